"""One chaos trial: hand edits, faults, a process event, settling by the product, the checks."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from chaos_seats import PRODUCTS, Seats, iso
from chaos_world import (
    CW_TIMEOUT,
    LEASE_SECONDS,
    PARTNER,
    SETTLE_MARGIN,
    Cli,
    Finished,
    Processes,
    Simulator,
    intents_after,
    latest_run,
    open_intents,
    sync_report,
)

SETTLE_RUNS = 8
SETTLE_PAUSE = CW_TIMEOUT + SETTLE_MARGIN + 0.5  # an open intent must be this old to be settled
EVENTS = ("plain", "sigkill", "sigstop", "concurrent")
FAULTS_OFF = {
    "rate_limit_probability": 0, "server_error_probability": 0, "post_commit_delay_seconds": 0,
    "lose_post_response_probability": 0, "lose_next_posts": 0, "fail_nth_post": 0,
    "corrupt_next_posts": 0,
}  # fmt: skip


@dataclass(frozen=True)
class Trial:
    """One trial's plan: hand edits before it, faults during it, one process event."""

    edits: tuple[str, ...]
    faults: dict
    event: str


def plan_trial(rng: random.Random) -> Trial:
    """A random trial."""
    kinds = ("quantity", "cancel", "seats")
    edits = tuple(rng.choices(kinds, weights=(3, 4, 3), k=rng.choice((0, 1, 2, 2, 3))))
    faults = {
        "rate_limit_probability": rng.choice((0, 0, 0.05, 0.15)),
        "server_error_probability": rng.choice((0, 0, 0.05, 0.15)),
        # Longer than the client's timeout but shorter than timeout + settle margin: the product
        # settles an unknown POST only once that old, so a slower commit is outside its promise.
        "post_commit_delay_seconds": round(rng.uniform(1.2, 1.7), 2) if rng.random() < 0.5 else 0,
        "lose_post_response_probability": rng.choice((0, 0, 0.3, 0.6)),
        "fail_nth_post": rng.randint(1, 3) if rng.random() < 0.3 else 0,
        "fail_post_status": 409,
        "corrupt_next_posts": rng.randint(1, 2) if rng.random() < 0.3 else 0,
        "seed": rng.randrange(2**31),
    }
    return Trial(edits, faults, rng.choices(EVENTS, weights=(2, 3, 2.5, 2.5))[0])


@dataclass
class Tally:
    """What one database's trials did and found."""

    trials: int = 0
    duplicates: int = 0
    wrong_quantities: int = 0
    open_intents: int = 0
    deletes: int = 0
    unsettled: int = 0
    hand_cancels: int = 0
    events: Counter = field(default_factory=Counter)
    findings: list[str] = field(default_factory=list)

    def found(self, finding: str) -> None:
        """Keep a broken invariant's description, and show it at once."""
        self.findings.append(finding)
        print(f"  ! {finding}", file=sys.stderr, flush=True)


@dataclass
class World:
    """One database's processes, simulator, CLI, ledger reader, seats and random source."""

    processes: Processes
    simulator: Simulator
    cli: Cli
    ledger: Engine
    seats: Seats
    rng: random.Random


def _past(now: datetime) -> str:
    return iso(now - timedelta(minutes=1))


def hand_edits(world: World, edits: tuple[str, ...]) -> None:
    """What an MSP or the vendor changed since the last run: additions by hand, seats by CSV."""
    now = datetime.now(UTC)
    if "seats" in edits:
        for _ in range(edits.count("seats")):
            world.seats.change(world.rng, now)
        csv = world.seats.write_csv(world.processes.workdir / "seats.csv")
        world.cli.run("usage", "import", PARTNER, str(csv))
    for edit in (e for e in edits if e != "seats"):
        synced = [a for group in active_additions(world, now).values() for a in group]
        if not synced:
            continue
        if edit == "cancel":  # one to three, so that the next run has creates to make
            for addition in world.rng.sample(synced, min(len(synced), world.rng.randint(1, 3))):
                world.simulator.patch_addition(addition, "cancelledDate", _past(now))
            continue
        addition = world.rng.choice(synced)
        old = int(addition.get("quantity", 0))
        new = old + world.rng.choice((-2, -1, 1, 3))
        world.simulator.patch_addition(addition, "quantity", new if new >= 0 else old + 1)


def active_additions(world: World, now: datetime) -> dict[tuple[int, int], list[dict]]:
    """Active additions by (agreement id, catalog id), oldest first."""
    found: dict[tuple[int, int], list[dict]] = {}
    for addition in sorted(world.simulator.additions(), key=lambda a: a["id"]):
        cancelled = addition.get("cancelledDate")
        if cancelled and datetime.fromisoformat(cancelled) <= now:
            continue
        found.setdefault((addition["agreementId"], addition["product"]["id"]), []).append(addition)
    return found


def run_event(world: World, event: str, tally: Tally) -> list[Finished]:
    """The trial's sync processes: plain, killed, frozen past the lease, or two at once."""
    processes, start, rng = world.processes, world.cli.start_sync, world.rng
    if event == "concurrent":
        tally.events["concurrent"] += 1
        both = [start(), start()]
        return [processes.finish(p) for p in both]
    first = start()
    if event in ("sigkill", "sigstop"):
        wait_for_a_moment(world, first)
    if event == "sigkill" and processes.signal(first, signal.SIGKILL):
        tally.events["sigkill"] += 1
    if event != "sigstop" or not processes.signal(first, signal.SIGSTOP):
        return [processes.finish(first)]
    tally.events["sigstop"] += 1
    time.sleep(LEASE_SECONDS + 0.5)  # the frozen run's lease expires
    second = start()
    time.sleep(rng.uniform(1.2, 2.5))  # wake it while the second run works
    processes.signal(first, signal.SIGCONT)
    return [processes.finish(first), processes.finish(second)]


def wait_for_a_moment(world: World, proc: subprocess.Popen) -> None:
    """A random moment of the process's run: while its first write is in flight, or soon after
    the run started (bounded: also ends when the process does)."""
    known = latest_run(world.ledger)
    if world.rng.random() < 0.5:
        _poll(proc, lambda: intents_after(world.ledger, known) > 0)
    else:
        _poll(proc, lambda: latest_run(world.ledger) > known)
        time.sleep(world.rng.uniform(0, 0.8))


def _poll(proc: subprocess.Popen, ready, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline and not ready():
        time.sleep(0.03)


def settle(world: World) -> tuple[bool, int]:
    """Sync until a run succeeds with no open intent, or its item errors repeat with none open."""
    previous: frozenset | None = None
    for attempt in range(1, SETTLE_RUNS + 1):
        report = sync_report(world.processes.finish(world.cli.start_sync()))
        if report is not None and open_intents(world.ledger) == 0:
            errors = frozenset(
                (i["company"], i["product"]) for i in report["items"] if i["action"] == "error"
            )
            if report["status"] == "succeeded" or (errors and errors == previous):
                return True, attempt
            previous = errors
        time.sleep(SETTLE_PAUSE)
    return False, SETTLE_RUNS


def check(world: World, tally: Tally, label: str) -> None:
    """The invariants after settling; a duplicate is then cancelled by hand, as an MSP would."""
    now = datetime.now(UTC)
    active = active_additions(world, now)
    for company in range(1, world.seats.companies + 1):  # agreement id = company index
        for code, cw_id in PRODUCTS.items():
            found = active.get((company, cw_id), [])
            expected = world.seats.live_count(company, code)
            where = f"{label} C{company:02d}/{code}"
            if len(found) > 1:
                tally.duplicates += len(found) - 1
                tally.found(f"{where}: duplicate additions {[a['id'] for a in found]}")
                for extra in found[1:]:  # keep the oldest
                    world.simulator.patch_addition(extra, "cancelledDate", _past(now))
                    tally.hand_cancels += 1
            elif abs((found[0].get("quantity", 0) if found else 0) - expected) > 1e-6:
                tally.wrong_quantities += 1
                carried = [a.get("quantity") for a in found]
                tally.found(f"{where}: expected {expected}, additions carry {carried}")
    deletes = world.simulator.stats()["byMethod"].get("DELETE", 0)
    if deletes > tally.deletes:
        tally.found(f"{label}: {deletes - tally.deletes} DELETE request(s)")
        tally.deletes = deletes
    intents = open_intents(world.ledger)
    if intents:
        tally.open_intents += intents
        tally.found(f"{label}: {intents} open intent(s) after settling")


def run_trial(world: World, label: str, tally: Tally) -> None:
    """Hand edits, faults on, the process event, faults off, settle, check; one progress line."""
    trial = plan_trial(world.rng)
    fired_before = Counter(world.simulator.stats()["byFault"])
    hand_edits(world, trial.edits)
    world.simulator.faults(trial.faults)
    ended = run_event(world, trial.event, tally)
    world.simulator.faults(FAULTS_OFF)
    settled, runs = settle(world)
    tally.unsettled += not settled
    tally.trials += 1
    fired = Counter(world.simulator.stats()["byFault"]) - fired_before
    print(
        f"{label}: {trial.event} [{', '.join(_outcome(done) for done in ended)}] "
        f"edits {','.join(trial.edits) or '-'}; faults {dict(fired) or '-'}; "
        f"{'settled' if settled else 'NOT settled'} after {runs} run(s)",
        file=sys.stderr,
        flush=True,
    )
    check(world, tally, label)


def _outcome(done: Finished) -> str:
    if done.returncode < 0:
        return signal.Signals(-done.returncode).name
    report = sync_report(done)
    if report is None:  # e.g. refused: another run holds the lease
        error = (done.stderr.strip().splitlines() or [""])[-1]
        return f"exit {done.returncode} ({error[:70]})"
    message = report.get("message") if report["status"] == "failed" else None
    return f"failed ({message[:70]})" if message else report["status"]

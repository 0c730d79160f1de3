"""Chaos figures: trials of hand edits, ConnectWise faults and killed, frozen or concurrent syncs.

Each trial is then settled by the product alone (faults off, `billing-sync sync` again) and
checked: at most one active addition per mapped (company, product), carrying the live seat count;
never a DELETE; no write intent left open. A figures script, not a timed test: it prints one
summary line (or JSON) and exits 1 when an invariant broke.

    python scripts/chaos.py [--trials 50] [--databases sqlite,postgresql] [--seed N]
                            [--companies 8] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from chaos_seats import Seats
from chaos_trial import Tally, World, run_trial
from chaos_world import (
    Cli,
    Processes,
    Simulator,
    ledger_engine,
    prepare_database,
    setup_partner,
)

LABELS = {  # JSON key -> words in the summary line
    "sigkill": "sigkill", "sigstop": "sigstop", "concurrent": "concurrent",
    "slow_posts": "slow POSTs", "lost_answers": "lost answers", "forced_409": "forced 409",
    "corrupt_bodies": "corrupt bodies",
}  # fmt: skip
FIRED = {  # simulator fault name -> JSON key
    "slow_post": "slow_posts", "lost_answer": "lost_answers", "forced_error": "forced_409",
    "corrupt_answer": "corrupt_bodies", "rate_limited": "rate_limited",
    "server_error": "server_errors",
}  # fmt: skip


def run_database(kind: str, args: argparse.Namespace) -> tuple[Tally, Counter] | None:
    """Every trial against a fresh database of `kind` and a fresh simulator; None if skipped."""
    with tempfile.TemporaryDirectory(prefix="chaos-") as tmp:
        workdir = Path(tmp)
        url = prepare_database(kind, workdir)
        if url is None:
            return None
        processes, ledger = Processes(workdir), ledger_engine(url)
        try:
            rng = random.Random(args.seed)
            simulator = Simulator(processes, args.companies)
            cli = Cli(processes, url)
            seats = Seats(rng, args.companies, datetime.now(UTC))
            setup_partner(cli, simulator, seats)
            world = World(processes, simulator, cli, ledger, seats, rng)
            tally = Tally()
            for number in range(1, args.trials + 1):
                run_trial(world, f"{kind} {number}/{args.trials}", tally)
            return tally, Counter(simulator.stats()["byFault"])
        finally:
            processes.stop_all()
            ledger.dispose()


def summarise(results: dict, args: argparse.Namespace, seconds: float) -> dict:
    """The figures of every database, summed, as one JSON-ready object."""
    tallies = [tally for tally, _ in results.values()]
    fired = sum((faults for _, faults in results.values()), Counter())
    events = Counter()
    for tally in tallies:
        events.update(tally.events)
    totals = {
        name: sum(getattr(t, name) for t in tallies)
        for name in ("duplicates", "wrong_quantities", "open_intents", "deletes", "unsettled",
                     "hand_cancels")
    }  # fmt: skip
    broken = totals["duplicates"] + totals["wrong_quantities"] + totals["open_intents"]
    return {
        "trials": args.trials,
        "databases": list(results),
        "skipped": [kind for kind in args.databases if kind not in results],
        "seed": args.seed,
        **totals,
        "events": {
            **{e: events[e] for e in ("sigkill", "sigstop", "concurrent")},
            **{key: fired[name] for name, key in FIRED.items()},
        },
        "per_database": {
            kind: {name: getattr(tally, name) for name in ("trials", *totals)}
            for kind, (tally, _) in results.items()
        },
        "findings": [f for t in tallies for f in t.findings],
        "seconds": round(seconds),
        "ok": bool(results) and broken + totals["deletes"] == 0,
    }


def summary_line(summary: dict) -> str:
    """The one line the script prints."""
    events = ", ".join(f"{label} {summary['events'][key]}" for key, label in LABELS.items())
    unsettled = f", {summary['unsettled']} unsettled" if summary["unsettled"] else ""
    return (
        f"chaos: {summary['trials']} trials x {', '.join(summary['databases']) or 'no database'}: "
        f"{summary['duplicates']} duplicates, {summary['wrong_quantities']} wrong quantities, "
        f"{summary['open_intents']} open intents, {summary['deletes']} DELETEs{unsettled} "
        f"({events}) in {summary['seconds']} s"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--databases", default="sqlite,postgresql", help="comma-separated")
    parser.add_argument("--seed", type=int, default=None, help="default: a random one, printed")
    parser.add_argument("--companies", type=int, default=8)
    parser.add_argument("--json", action="store_true", help="print a JSON object instead")
    args = parser.parse_args(argv)
    if args.trials < 1 or args.companies < 1:
        parser.error("--trials and --companies must be at least 1")
    args.databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(10**6)
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the trials on each database; print the summary; 1 when an invariant broke."""
    args = parse_args(argv)
    # Unwind on Ctrl-C or SIGTERM so that every child is stopped (even when started in the
    # background, where a shell makes SIGINT ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print(f"chaos: seed {args.seed}, {args.companies} companies", file=sys.stderr)
    started, results = time.monotonic(), {}
    try:
        for kind in args.databases:
            outcome = run_database(kind, args)
            if outcome is not None:
                results[kind] = outcome
    except KeyboardInterrupt:
        print("chaos: interrupted; every process it started was stopped", file=sys.stderr)
        return 130
    summary = summarise(results, args, time.monotonic() - started)
    print(json.dumps(summary, indent=2) if args.json else summary_line(summary))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

"""The chaos script's world: child processes, the simulator process, the CLI, the database.

Everything here talks to 127.0.0.1 only and is bounded: every request and process has a timeout.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from chaos_seats import PRODUCTS, Seats, company_name

ROOT = Path(__file__).resolve().parent.parent
PARTNER = "chaos"
CLIENT_ID = "5f1e6a3c-0000-4000-8000-0000000c4a05"
CREDENTIALS = {"companyId": "chaos", "publicKey": "pub", "privateKey": "priv-chaos"}
CW_TIMEOUT, LEASE_SECONDS, SETTLE_MARGIN, CW_RETRIES = 1, 4, 1, 2
PROCESS_TIMEOUT = 60  # seconds one CLI process may take before it is killed as hung
HTTP_TIMEOUT = 10
POSTGRES_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/"
POSTGRES_DB = "billing_sync_chaos"


@dataclass
class Finished:
    """A child process's end: exit code (negative = killed by that signal) and its output."""

    returncode: int
    stdout: str
    stderr: str


class Processes:
    """Every child the script starts, so that all of them end with it (Ctrl-C included)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.children: dict[subprocess.Popen, tuple] = {}

    def start(self, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        """Start a child in its own session, its output going to files (no pipe can fill)."""
        # Closed by finish(): they live as long as the child, beyond any `with` block here.
        out = tempfile.TemporaryFile("w+", dir=self.workdir)  # noqa: SIM115
        err = tempfile.TemporaryFile("w+", dir=self.workdir)  # noqa: SIM115
        proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
            text=True, start_new_session=True,
        )  # fmt: skip
        self.children[proc] = (out, err)
        return proc

    def finish(self, proc: subprocess.Popen, timeout: float = PROCESS_TIMEOUT) -> Finished:
        """Wait for a child (killing it once `timeout` has passed) and collect its output."""
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        out, err = self.children.pop(proc)
        texts = []
        for stream in (out, err):
            stream.seek(0)
            texts.append(stream.read())
            stream.close()
        return Finished(proc.returncode, *texts)

    def signal(self, proc: subprocess.Popen, signum: int) -> bool:
        """Send `signum` if the child still runs; True when it was sent."""
        if proc.poll() is not None:
            return False
        os.kill(proc.pid, signum)
        return True

    def stop_all(self) -> None:
        """Kill every child still running (SIGKILL also ends a stopped one) and reap it."""
        for proc in list(self.children):
            self.signal(proc, signal.SIGKILL)
            self.finish(proc, timeout=10)


class Simulator:
    """The ConnectWise simulator in its own process, and what the script asks of it."""

    def __init__(self, processes: Processes, companies: int) -> None:
        seed_path = processes.workdir / "seed.json"
        seed_path.write_text(json.dumps(simulator_seed(companies)))
        code = "import sys; from cw_simulator import run_simulator; "
        code += "run_simulator('127.0.0.1', 0, sys.argv[1])"
        self.proc = processes.start([sys.executable, "-c", code, str(seed_path)], child_env({}))
        self.processes = processes
        self.site = _first_line(processes, self.proc)
        self.api = f"{self.site}/v4_6_release/apis/3.0"
        self.http = requests.Session()
        self.http.trust_env = False  # never a proxy: the simulator is on loopback
        login = f"{CREDENTIALS['companyId']}+{CREDENTIALS['publicKey']}"
        self.http.auth = (login, CREDENTIALS["privateKey"])
        self.http.headers["clientId"] = CLIENT_ID

    def faults(self, knobs: dict) -> dict:
        """Merge fault knobs; returns them all."""
        return self._control("POST", "faults", knobs)

    def stats(self) -> dict:
        """Request counts by method, status and fault (since the simulator started)."""
        return self._control("GET", "stats")

    def additions(self) -> list[dict]:
        """Every addition ConnectWise holds, cancelled ones included."""
        return self._control("GET", "seed")["additions"]

    def patch_addition(self, addition: dict, field: str, value: object) -> None:
        """A hand edit through the ConnectWise API, as an MSP makes it in the ConnectWise UI."""
        url = f"{self.api}/finance/agreements/{addition['agreementId']}/additions/{addition['id']}"
        body = [{"op": "replace", "path": field, "value": value}]
        self.http.patch(url, json=body, timeout=HTTP_TIMEOUT).raise_for_status()

    def _control(self, method: str, name: str, body: dict | None = None) -> dict:
        url = f"{self.site}/__simulator/{name}"
        response = self.http.request(method, url, json=body, timeout=HTTP_TIMEOUT)
        response.raise_for_status()
        return response.json()


def _first_line(processes: Processes, proc: subprocess.Popen, timeout: float = 20) -> str:
    """The simulator prints its site once bound; wait (bounded) for that line."""
    out = processes.children[proc][0]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        out.seek(0)
        line = out.readline()
        if line.endswith("\n"):
            return line.strip()
        time.sleep(0.1)
    raise RuntimeError("the simulator did not start (no site printed)")


def simulator_seed(companies: int) -> dict:
    """Two catalog items; per vendor company a ConnectWise company of the same name + agreement."""
    return {
        "credentials": {**CREDENTIALS, "clientId": CLIENT_ID, "codebase": "v4_6_release/"},
        "catalog": [
            {"id": cw_id, "identifier": code.upper(), "description": f"{code} per user"}
            for code, cw_id in PRODUCTS.items()
        ],
        "companies": [{"id": i, "name": company_name(i)} for i in range(1, companies + 1)],
        "agreements": [
            {"id": i, "name": f"MSA {i:02d}", "company": {"id": i}} for i in range(1, companies + 1)
        ],
    }


def child_env(extra: dict[str, str]) -> dict[str, str]:
    """This worktree's code, no inherited BILLING_SYNC_* setting, no proxy, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLING_SYNC_")}
    env.update(PYTHONPATH=str(ROOT), NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1")
    return {**env, **extra}


class Cli:
    """`billing-sync` as child processes with the chaos timings."""

    def __init__(self, processes: Processes, database_url: str) -> None:
        self.processes = processes
        self.env = child_env(
            {
                "BILLING_SYNC_DATABASE_URL": database_url,
                "BILLING_SYNC_SECRET_KEY": secrets.token_urlsafe(32),
                "BILLING_SYNC_ALLOW_PRIVATE_HOSTS": "1",
                "BILLING_SYNC_INSTANCE_PATH": str(processes.workdir),
                "BILLING_SYNC_CW_TIMEOUT": str(CW_TIMEOUT),
                "BILLING_SYNC_LEASE_SECONDS": str(LEASE_SECONDS),
                "BILLING_SYNC_SETTLE_MARGIN": str(SETTLE_MARGIN),
                "BILLING_SYNC_CW_RETRIES": str(CW_RETRIES),
            }
        )

    def start(self, *args: str) -> subprocess.Popen:
        """Start one command."""
        return self.processes.start([sys.executable, "-m", "billing_sync.cli", *args], self.env)

    def run(self, *args: str) -> str:
        """Run one setup command to its end; its stdout, or RuntimeError with its error line."""
        done = self.processes.finish(self.start(*args))
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise RuntimeError(f"billing-sync {' '.join(args)}: {last}")
        return done.stdout

    def start_sync(self) -> subprocess.Popen:
        """Start `billing-sync sync PARTNER --json`."""
        return self.start("sync", PARTNER, "--json")


def sync_report(done: Finished) -> dict | None:
    """The JSON object a sync printed, or None (refused by the lease, killed, crashed)."""
    try:
        report = json.loads(done.stdout)
    except ValueError:
        return None
    return report if isinstance(report, dict) else None


def setup_partner(cli: Cli, simulator: Simulator, seats: Seats) -> None:
    """Partner, connection, mapped products, seats, auto-matched companies, live basis, enabled."""
    cli.run("init-db")
    cli.run("partner", "create", PARTNER)
    cli.run(
        "connection", "set", PARTNER, "--site", simulator.site,
        "--company-id", CREDENTIALS["companyId"], "--public-key", CREDENTIALS["publicKey"],
        "--private-key", CREDENTIALS["privateKey"], "--client-id", CLIENT_ID,
    )  # fmt: skip
    for code, cw_id in PRODUCTS.items():
        cli.run("products", "add", code, f"Chaos {code}")
        cli.run("products", "map", PARTNER, code, "--cw-product-id", str(cw_id))
    cli.run("usage", "import", PARTNER, str(seats.write_csv(cli.processes.workdir / "seats.csv")))
    matched = cli.run("companies", "automatch", PARTNER)
    if f"{seats.companies} matched" not in matched:
        raise RuntimeError(f"automatch did not map every company: {matched.strip()}")
    cli.run("schedule", "set", PARTNER, "daily", "--at", "02:00", "--basis", "live")
    # Chaos checks exactly-once writes of the live counts: hold rules would keep big changes
    # unwritten by design (tests/guardrails prove them), so none may trip here.
    cli.run(
        "guardrails", "set", PARTNER, "--min-increase-users", "10000000",
        "--min-decrease-users", "10000000", "--no-hold-to-zero", "--first-run-total", "10000000",
    )  # fmt: skip
    cli.run("integration", "enable", PARTNER)


def prepare_database(kind: str, workdir: Path) -> str | None:
    """A fresh database URL of `kind` (sqlite or postgresql), or None when it cannot be had."""
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'chaos.sqlite3'}"
    if kind != "postgresql":
        raise ValueError(f"unknown database {kind!r} (sqlite, postgresql)")
    server = create_engine(
        POSTGRES_SERVER + "postgres", isolation_level="AUTOCOMMIT", poolclass=NullPool,
        connect_args={"connect_timeout": 3},
    )  # fmt: skip
    try:
        with server.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {POSTGRES_DB} WITH (FORCE)"))
            conn.execute(text(f"CREATE DATABASE {POSTGRES_DB}"))
    except OperationalError as exc:
        reason = str(exc.orig).splitlines()[0]
        print(f"chaos: PostgreSQL skipped, it does not answer ({reason})", file=sys.stderr)
        return None
    finally:
        server.dispose()
    return POSTGRES_SERVER + POSTGRES_DB


def ledger_engine(url: str) -> Engine:
    """An engine for reading the ledger; holds no connection between reads."""
    return create_engine(url, poolclass=NullPool)


def latest_run(engine: Engine) -> int:
    """The id of the newest run (0 before the first)."""
    with engine.connect() as conn:
        return conn.execute(text("SELECT coalesce(max(id), 0) FROM runs")).scalar()


def intents_after(engine: Engine, run_id: int) -> int:
    """Open intents of runs newer than `run_id`: a write of theirs is in flight."""
    query = text("SELECT count(*) FROM run_items WHERE state = 'intent' AND run_id > :run")
    with engine.connect() as conn:
        return conn.execute(query, {"run": run_id}).scalar()


def open_intents(engine: Engine) -> int:
    """Ledger rows still saying `intent`: writes whose outcome nobody has settled."""
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM run_items WHERE state = 'intent'")).scalar()

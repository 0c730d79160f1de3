"""`billing-sync scheduler` as real processes: two on one database, and SIGTERM mid-run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from billing_sync.models import Partner, Run
from billing_sync.sync import run_sync
from cw_simulator import Simulator
from tests.scheduler.conftest import add_partner, make_due, map_companies, run_rows, sim_state

pytestmark = pytest.mark.slow


def start_scheduler(settings, tmp_path, name: str) -> subprocess.Popen:
    """`python -m billing_sync.cli scheduler` with a fast tick, logging to a file."""
    env = {
        **os.environ,
        "BILLING_SYNC_DATABASE_URL": settings.database_url,
        "BILLING_SYNC_SECRET_KEY": settings.secret_key,
        "BILLING_SYNC_ALLOW_PRIVATE_HOSTS": "1",
        "BILLING_SYNC_SCHEDULER_TICK": "0.1",
        "BILLING_SYNC_INSTANCE_PATH": str(tmp_path),
    }
    log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [sys.executable, "-m", "billing_sync.cli", "scheduler"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def stop(process: subprocess.Popen, sig=signal.SIGTERM, timeout: float = 20) -> int:
    process.send_signal(sig)
    try:
        return process.wait(timeout)
    finally:
        process.kill() if process.poll() is None else None


def wait_for(condition, timeout: float = 30.0, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(every)
    raise AssertionError("condition not met in time")


def test_two_scheduler_processes_run_each_due_run_exactly_once(session_factory, settings, tmp_path):
    state = sim_state()
    with Simulator(state) as sim:
        now = datetime.now(UTC)
        ids = [
            add_partner(session_factory, settings, f"msp{i}", site=sim.site, now=now)
            for i in range(4)
        ]
        agreements = []
        for pid in ids:
            agreements += map_companies(session_factory, state, pid, 2, now=now)
            make_due(session_factory, pid, month_close=pid == ids[0])
        state.faults.latency_seconds = 0.03  # slow enough for both processes to compete
        processes = [start_scheduler(settings, tmp_path, f"s{i}") for i in range(2)]
        try:
            wait_for(
                lambda: (
                    len([r for r in run_rows(session_factory) if r.status != "running"]) >= len(ids)
                )
            )
            time.sleep(1.0)  # both keep ticking: nothing may run twice
        finally:
            codes = [stop(p) for p in processes]
        runs = run_rows(session_factory)
        checks = state.request_counts_by_path().get("GET /system/info", 0)
    assert codes == [0, 0], [(tmp_path / f"s{i}.log").read_text() for i in range(2)]
    assert Counter(r.partner_id for r in runs) == dict.fromkeys(ids, 1)
    assert {(r.partner_id, r.trigger, r.status) for r in runs} == {
        (pid, "month_close" if pid == ids[0] else "schedule", "succeeded") for pid in ids
    }
    assert checks == len(ids)  # one credentials check per partner, not one per process
    assert [len(state.additions(a)) for a in agreements] == [1] * len(agreements)


def test_sigterm_mid_run_records_interrupted_and_the_next_run_completes(
    session_factory, settings, tmp_path
):
    state = sim_state()
    with Simulator(state) as sim:
        now = datetime.now(UTC)
        pid = add_partner(session_factory, settings, "msp", site=sim.site, now=now)
        agreements = map_companies(session_factory, state, pid, 6, now=now)
        with session_factory.begin() as session:
            session.get(Partner, pid).sync_concurrency = 1  # one company at a time
        make_due(session_factory, pid)
        state.faults.latency_seconds = 0.25
        process = start_scheduler(settings, tmp_path, "s")
        try:
            wait_for(lambda: state.records("additions"))  # the first company is done
        finally:
            code = stop(process)
        state.faults.latency_seconds = 0
        [run] = run_rows(session_factory, pid)
        assert code == 0, (tmp_path / "s.log").read_text()
        assert run.status == "interrupted" and run.finished_at is not None
        assert 0 < len(state.records("additions")) < len(agreements)
        report = run_sync(session_factory, settings, pid, now=datetime.now(UTC), trigger="manual")
    assert report.status == "succeeded"
    assert [len(state.additions(a)) for a in agreements] == [1] * len(agreements)
    assert {a["quantity"] for a in state.records("additions")} == {3.0}
    with session_factory() as session:
        assert session.scalar(select(Run.status).where(Run.id == report.run_id)) == "succeeded"

"""The fleet as real processes: schedulers enqueue, workers run, a killed worker loses nothing."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from billing_sync.launch import Queued, start_run
from billing_sync.models import Partner, Run, RunItem, Schedule
from billing_sync.scheduler.outcome import DEAD_RUN
from billing_sync.sync.writes import WriteTiming
from cw_simulator import Simulator
from tests.fleet.conftest import wait_for
from tests.scheduler.conftest import add_partner, make_due, map_companies, sim_state

pytestmark = pytest.mark.slow
USERS = 3  # map_companies gives every company this many seats of one product


def runs(factory) -> list[Run]:
    with factory() as session:
        return list(session.scalars(select(Run).order_by(Run.id)))


def ended(factory) -> list[Run]:
    return [r for r in runs(factory) if r.status not in ("queued", "running")]


def open_intents(factory) -> int:
    with factory() as session:
        return session.scalar(select(func.count(RunItem.id)).where(RunItem.state == "intent"))


def finished_job_ids(run_queue) -> list[str]:
    ids = []
    for name in ("interactive", "scheduled"):
        ids += run_queue.queue(name).finished_job_registry.get_job_ids()
    return ids


def test_two_schedulers_and_three_workers_run_each_slot_exactly_once(
    session_factory, fleet_settings, run_queue, processes
):
    state = sim_state()
    with Simulator(state) as sim:
        now = datetime.now(UTC)
        ids = [
            add_partner(session_factory, fleet_settings, f"msp{i}", site=sim.site, now=now)
            for i in range(6)
        ]
        agreements = []
        for pid in ids:
            agreements += map_companies(session_factory, state, pid, 2, now=now)
            make_due(session_factory, pid, month_close=pid in ids[:2])
        state.faults.latency_seconds = 0.03  # slow enough for the processes to compete
        for i in range(3):
            processes.worker(f"w{i}")
        for i in range(2):
            processes.start(f"s{i}", "scheduler")
        wait_for(lambda: len(ended(session_factory)) >= len(ids), what="every partner's run")
        wait_for(
            lambda: state.request_counts_by_path().get("GET /system/info", 0) >= len(ids),
            what="every credentials check",
        )
        time.sleep(1.5)  # everyone keeps ticking and polling: nothing may run twice
        codes = [processes.stop(name) for name in ("s0", "s1", "w0", "w1", "w2")]
        checks = state.request_counts_by_path().get("GET /system/info", 0)
        done = finished_job_ids(run_queue)

    logs = "".join(processes.log(n) for n in ("s0", "s1", "w0", "w1", "w2"))
    assert codes == [0] * 5, logs
    all_runs = runs(session_factory)
    assert Counter(r.partner_id for r in all_runs) == dict.fromkeys(ids, 1)
    assert {(r.partner_id, r.trigger, r.status) for r in all_runs} == {
        (pid, "month_close" if pid in ids[:2] else "schedule", "succeeded") for pid in ids
    }
    assert checks == len(ids)  # one credentials check per partner
    run_jobs = sorted(j for j in done if not j.startswith("check-"))
    assert len(run_jobs) == len(ids) == len(set(run_jobs))
    assert {j.split("-")[1] for j in run_jobs} == {str(pid) for pid in ids}
    assert [len(state.additions(a)) for a in agreements] == [1] * len(agreements)
    workers_used = {
        json.loads(line).get("job_id")
        for name in ("w0", "w1", "w2")
        for line in processes.log(name).splitlines()
        if line.startswith("{") and json.loads(line).get("job_id")
    }
    assert set(run_jobs) <= workers_used  # workers ran them (and logged JSON naming the job)
    for line in processes.log("s0").splitlines():  # the scheduler logs JSON objects too
        assert {"partner_id", "run_id", "job_id", "message"} <= set(json.loads(line)), line


def test_a_worker_killed_mid_month_close_loses_nothing_and_the_close_completes(
    session_factory, fleet_settings, run_queue, processes
):
    state = sim_state()
    with Simulator(state) as sim:
        now = datetime.now(UTC)
        pid = add_partner(session_factory, fleet_settings, "msp", site=sim.site, now=now)
        agreements = map_companies(session_factory, state, pid, 30, users=USERS, now=now)
        with session_factory.begin() as session:
            session.get(Partner, pid).sync_concurrency = 2
        make_due(session_factory, pid, month_close=True)
        state.faults.latency_seconds = 0.1
        processes.start("s", "scheduler")
        processes.worker("w1")
        wait_for(lambda: len(state.records("additions")) >= 5, what="the first creates")

        processes.stop("w1", signal.SIGKILL)  # the machine is gone: no goodbye, no cleanup
        killed_at = len(state.records("additions"))
        processes.worker("w2")
        wait_for(
            lambda: any(
                r.trigger == "month_close" and r.status == "succeeded"
                for r in runs(session_factory)
            ),
            timeout=90,
            what="the month close to be re-enqueued and to succeed",
        )
        state.faults.latency_seconds = 0
        if open_intents(session_factory):  # a write in flight at the kill, not ripe then
            timing = WriteTiming.from_settings(
                fleet_settings.cw_timeout_seconds, fleet_settings.settle_margin_seconds
            )
            time.sleep(timing.settle_after + 0.2)
            started = start_run(
                session_factory,
                fleet_settings,
                Queued(run_queue),
                pid,
                now=datetime.now(UTC),
                trigger="manual",
            )
            wait_for(
                lambda: (
                    next(r for r in runs(session_factory) if r.id == started.run_id).status
                    == "succeeded"
                ),
                what="the settling run",
            )
        additions = [state.additions(a) for a in agreements]

    closes = [r for r in runs(session_factory) if r.trigger == "month_close"]
    assert 0 < killed_at < len(agreements)
    assert closes[0].status == "interrupted" and closes[0].message == DEAD_RUN
    assert closes[-1].status == "succeeded"
    assert [len(a) for a in additions] == [1] * len(agreements)  # nothing duplicated
    assert {a[0]["quantity"] for a in additions} == {float(USERS)}  # every addition exact
    assert open_intents(session_factory) == 0
    with session_factory() as session:
        close_at = session.scalar(
            select(Schedule.next_month_close_at).where(Schedule.partner_id == pid)
        )
    assert close_at > datetime.now(UTC)  # the close is done: next month's is what remains
    assert "Traceback" not in processes.log("w2"), processes.log("w2")


def test_sigterm_stops_the_run_in_hand_and_the_month_close_comes_back(
    session_factory, fleet_settings, run_queue, processes
):
    state = sim_state()
    with Simulator(state) as sim:
        now = datetime.now(UTC)
        pid = add_partner(session_factory, fleet_settings, "msp", site=sim.site, now=now)
        map_companies(session_factory, state, pid, 20, users=USERS, now=now)
        with session_factory.begin() as session:
            session.get(Partner, pid).sync_concurrency = 1
        make_due(session_factory, pid, month_close=True)
        state.faults.latency_seconds = 0.1
        processes.start("s", "scheduler")
        processes.worker("w1")
        wait_for(lambda: len(state.records("additions")) >= 2, what="the first creates")

        code = processes.stop("w1", signal.SIGTERM)
        first = runs(session_factory)[0]
        state.faults.latency_seconds = 0
        processes.worker("w2")
        wait_for(
            lambda: (
                runs(session_factory)[-1].status == "succeeded" and len(runs(session_factory)) > 1
            ),
            what="the close to come back and succeed",
        )

    assert code == 0, processes.log("w1")
    assert first.status == "interrupted" and "stopped before" in first.message
    assert [r.trigger for r in runs(session_factory)] == ["month_close", "month_close"]

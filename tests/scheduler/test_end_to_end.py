"""The loop with the real engine and simulator: month close at the boundary, one run at a time."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from billing_sync.errors import RunInProgress
from billing_sync.models import Partner, PeriodClose, Run, RunLease
from billing_sync.scheduler.loop import run_scheduler, start_scheduler_thread, utc_now
from billing_sync.scheduler.service import set_schedule
from billing_sync.sync import run_sync
from cw_simulator import Simulator
from tests.scheduler.conftest import (
    Clock,
    add_partner,
    make_due,
    map_companies,
    run_rows,
    sim_state,
)

NY = "America/New_York"


def wait_for(condition, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


@pytest.fixture
def fast(settings):
    return replace(settings, scheduler_tick_seconds=0.05)


@pytest.fixture
def world(session_factory, fast):
    """Partner `msp` (New York) on a running simulator with three mapped companies."""
    state = sim_state()
    with Simulator(state) as sim:
        now = datetime(2026, 10, 20, tzinfo=UTC)
        pid = add_partner(session_factory, fast, "msp", site=sim.site, tz=NY, now=now)
        agreements = map_companies(session_factory, state, pid, 3, now=now)
        yield state, pid, agreements


def in_thread(settings, factory, clock) -> tuple[threading.Event, threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(
        target=run_scheduler,
        args=(settings,),
        daemon=True,
        kwargs={"stop": stop, "clock": clock, "session_factory": factory},
    )
    thread.start()
    return stop, thread


def test_month_close_run_lands_at_the_boundary_and_freezes_the_month(session_factory, fast, world):
    state, pid, agreements = world
    clock = Clock(datetime(2026, 10, 29, 12, tzinfo=UTC))
    with session_factory.begin() as session:
        set_schedule(
            session, session.get(Partner, pid), "weekly", weekday=2, at_time="09:00", now=clock.now
        )
    clock.now = datetime(2026, 11, 1, 4, 14, tzinfo=UTC)  # 00:14 EDT: not yet
    stop, thread = in_thread(fast, session_factory, clock)
    try:
        time.sleep(0.3)
        assert run_rows(session_factory, pid) == []
        clock.now = datetime(2026, 11, 1, 4, 15, tzinfo=UTC)  # 00:15 EDT on the 1st
        wait_for(lambda: [r for r in run_rows(session_factory, pid) if r.finished_at])
        time.sleep(0.2)
    finally:
        stop.set()
        thread.join(10)
    [run] = run_rows(session_factory, pid)
    assert (run.trigger, run.status, run.period) == ("month_close", "succeeded", date(2026, 10, 1))
    assert run.started_at == datetime(2026, 11, 1, 4, 15, tzinfo=UTC)
    with session_factory() as session:
        closed = session.scalars(select(PeriodClose).where(PeriodClose.partner_id == pid)).all()
    assert [(c.period, c.boundary) for c in closed] == [
        (date(2026, 10, 1), datetime(2026, 11, 1, 4, tzinfo=UTC))
    ]
    assert [len(state.additions(a)) for a in agreements] == [1, 1, 1]


def test_sync_now_during_a_scheduled_run_starts_nothing_and_says_so(session_factory, fast, world):
    state, pid, agreements = world
    clock = Clock(datetime.now(UTC))
    with session_factory.begin() as session:
        session.get(Partner, pid).sync_concurrency = 1
    make_due(session_factory, pid)
    state.faults.latency_seconds = 0.15
    stop, thread = in_thread(fast, session_factory, clock)
    try:
        wait_for(lambda: run_rows(session_factory, pid))
        with pytest.raises(RunInProgress, match="already running"):
            run_sync(session_factory, fast, pid, now=datetime.now(UTC), trigger="manual")
        wait_for(lambda: all(r.finished_at for r in run_rows(session_factory, pid)))
    finally:
        stop.set()
        thread.join(10)
    assert [(r.trigger, r.status) for r in run_rows(session_factory, pid)] == [
        ("schedule", "succeeded")
    ]


def test_a_killed_holder_stops_holding_once_its_lease_expires(session_factory, fast, world):
    state, pid, agreements = world
    now = datetime.now(UTC)
    make_due(session_factory, pid)
    with session_factory.begin() as session:
        dead = Run(
            partner_id=pid,
            trigger="schedule",
            status="running",
            basis="month_end",
            started_at=now - timedelta(hours=2),
        )
        session.add(dead)
        session.flush()
        session.add(
            RunLease(
                partner_id=pid,
                holder="gone:4242:dead",
                run_id=dead.id,
                acquired_at=now - timedelta(hours=2),
                expires_at=now - timedelta(hours=1),
            )
        )
    stop = start_scheduler_thread(fast, session_factory)
    try:
        wait_for(lambda: len([r for r in run_rows(session_factory, pid) if r.finished_at]) == 2)
    finally:
        stop()
    statuses = [(r.trigger, r.status) for r in run_rows(session_factory, pid)]
    assert statuses == [("schedule", "interrupted"), ("schedule", "succeeded")]
    assert [len(state.additions(a)) for a in agreements] == [1, 1, 1]


def test_the_scheduler_thread_is_off_when_disabled(session_factory, fast, world):
    stop = start_scheduler_thread(replace(fast, scheduler_enabled=False), session_factory)
    assert not [t for t in threading.enumerate() if t.name == "billing-sync-scheduler"]
    stop()


def test_a_month_close_whose_writes_were_in_flight_runs_again_once_they_can_settle(
    session_factory, fast, world
):
    state, pid, agreements = world
    settings = replace(fast, cw_timeout_seconds=0.5, settle_margin_seconds=0.0)
    make_due(session_factory, pid, month_close=True)
    with session_factory.begin() as session:
        session.get(Partner, pid).sync_concurrency = 1
    state.faults.post_commit_delay_seconds = 1.0  # every POST lands after we gave up on it
    stop, thread = in_thread(settings, session_factory, utc_now)
    try:
        wait_for(lambda: [r for r in run_rows(session_factory, pid) if r.finished_at])
        state.faults.post_commit_delay_seconds = 0
        wait_for(lambda: len([r for r in run_rows(session_factory, pid) if r.finished_at]) == 2)
        time.sleep(0.3)  # a third run would start now if the close were still due
    finally:
        stop.set()
        thread.join(10)
    statuses = [(r.trigger, r.status) for r in run_rows(session_factory, pid)]
    assert statuses == [("month_close", "failed"), ("month_close", "succeeded")]
    assert [len(state.additions(a)) for a in agreements] == [1, 1, 1]  # each late POST, once

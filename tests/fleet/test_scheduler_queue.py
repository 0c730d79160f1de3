"""The scheduler with a queue, in one process: it enqueues, reaps dead runs, re-opens closes."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from billing_sync.models import Run, RunLease, Schedule
from billing_sync.queue import tasks
from billing_sync.queue.client import RunQueue
from billing_sync.scheduler import outcome
from billing_sync.scheduler.jobs import Jobs
from billing_sync.scheduler.loop import tick
from billing_sync.sync.writes import WriteTiming
from cw_simulator import Simulator
from tests.scheduler.conftest import add_partner, make_due, map_companies, sim_state


@pytest.fixture
def partner(session_factory, fleet_settings):
    """A connected partner with two mapped companies, its regular run and month close due."""
    state = sim_state()
    with Simulator(state) as sim:
        now = datetime.now(UTC)
        pid = add_partner(session_factory, fleet_settings, "msp", site=sim.site, now=now)
        agreements = map_companies(session_factory, state, pid, 2, now=now)
        make_due(session_factory, pid, month_close=True)
        yield pid, state, agreements


def runs(factory) -> list[Run]:
    with factory() as session:
        return list(session.scalars(select(Run).order_by(Run.id)))


def schedule(factory, pid: int) -> Schedule:
    with factory() as session:
        return session.scalar(select(Schedule).where(Schedule.partner_id == pid))


def queued_ids(run_queue, name: str = "scheduled") -> list[str]:
    return run_queue.queue(name).get_job_ids()


def scheduler_tick(factory, settings, run_queue) -> None:
    tick(
        factory,
        settings,
        clock=lambda: datetime.now(UTC),
        jobs=Jobs(queue=run_queue),
        stop=threading.Event(),
    )


def test_a_due_month_close_is_enqueued_once_under_an_id_from_partner_and_slot(
    session_factory, fleet_settings, run_queue, partner
):
    pid, state, _ = partner
    slot = schedule(session_factory, pid).next_month_close_at

    scheduler_tick(session_factory, fleet_settings, run_queue)
    scheduler_tick(session_factory, fleet_settings, run_queue)  # nothing is due twice

    [run] = runs(session_factory)
    assert (run.trigger, run.status) == ("month_close", "queued")
    close, check = queued_ids(run_queue)
    assert close == f"month_close-{pid}-{slot:%Y%m%dT%H%M%S%fZ}"
    assert check.startswith(f"check-{pid}-")
    assert run_queue.job(queued_ids(run_queue)[0]).kwargs["handle"]["run_id"] == run.id
    assert state.log == []  # the scheduler itself talked to no ConnectWise


def test_a_month_close_whose_worker_died_is_reaped_and_enqueued_again_under_a_new_id(
    session_factory, fleet_settings, run_queue, partner
):
    pid, _, _ = partner
    scheduler_tick(session_factory, fleet_settings, run_queue)
    [first] = runs(session_factory)
    with session_factory.begin() as session:  # a worker took it, then was SIGKILLed
        session.execute(update(Run).where(Run.id == first.id).values(status="running"))
        session.execute(
            update(RunLease)
            .where(RunLease.partner_id == pid)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    scheduler_tick(session_factory, fleet_settings, run_queue)

    dead, retry = runs(session_factory)
    assert dead.id == first.id and dead.status == "interrupted"
    assert dead.message == outcome.DEAD_RUN
    assert (retry.trigger, retry.status) == ("month_close", "queued")
    closes = [i for i in queued_ids(run_queue) if i.startswith("month_close-")]
    assert len(closes) == 2 and closes[0] != closes[1]
    assert schedule(session_factory, pid).next_month_close_at > datetime.now(UTC)  # taken again


def test_a_queued_month_close_runs_in_a_worker_which_settles_the_close(
    session_factory, fleet_settings, run_queue, partner
):
    pid, state, agreements = partner
    scheduler_tick(session_factory, fleet_settings, run_queue)
    job = run_queue.job(queued_ids(run_queue)[0])
    tasks.bind(tasks.WorkerContext(fleet_settings, session_factory))
    try:
        result = tasks.run_job(**job.kwargs)
    finally:
        tasks.bind(None)

    assert result["status"] == "succeeded" and result["recorded"]
    assert [len(state.additions(a)) for a in agreements] == [1, 1]
    assert schedule(session_factory, pid).next_month_close_at > datetime.now(UTC)
    scheduler_tick(session_factory, fleet_settings, run_queue)  # nothing to reap or re-open
    assert [r.status for r in runs(session_factory)] == ["succeeded"]


def test_a_failed_month_close_is_put_back_for_fifteen_minutes_later(
    session_factory, fleet_settings, run_queue, partner
):
    pid, _, _ = partner
    scheduler_tick(session_factory, fleet_settings, run_queue)
    [run] = runs(session_factory)
    with session_factory.begin() as session:
        session.execute(update(Run).where(Run.id == run.id).values(status="failed"))
    now = datetime.now(UTC)

    outcome.after_run(session_factory, fleet_settings, run.id, now=now)

    assert schedule(session_factory, pid).next_month_close_at == now + outcome.FAILED_CLOSE_RETRY


def run_queued(factory, settings, run_queue) -> dict:
    """Take the oldest scheduled run off the queue and carry it out as a worker would."""
    job = run_queue.job(next(i for i in queued_ids(run_queue) if not i.startswith("check-")))
    run_queue.queue("scheduled").remove(job.id)
    tasks.bind(tasks.WorkerContext(settings, factory))
    try:
        return tasks.run_job(**job.kwargs)
    finally:
        tasks.bind(None)


def test_a_queued_close_whose_writes_were_in_flight_comes_back_once_they_can_settle(
    session_factory, fleet_settings, run_queue, partner
):
    pid, state, agreements = partner
    state.faults.post_commit_delay_seconds = 1.0  # every POST lands after we gave up on it
    scheduler_tick(session_factory, fleet_settings, run_queue)
    first = run_queued(session_factory, fleet_settings, run_queue)
    state.faults.post_commit_delay_seconds = 0
    close_at = schedule(session_factory, pid).next_month_close_at
    settle = WriteTiming.from_settings(
        fleet_settings.cw_timeout_seconds, fleet_settings.settle_margin_seconds
    ).settle_after
    assert first["status"] == "failed"
    # Put back for when its writes can be settled, not 15 minutes later.
    assert close_at < datetime.now(UTC) + timedelta(seconds=settle)
    time.sleep(max((close_at - datetime.now(UTC)).total_seconds(), 0) + 0.1)
    scheduler_tick(session_factory, fleet_settings, run_queue)
    second = run_queued(session_factory, fleet_settings, run_queue)

    assert second["status"] == "succeeded"
    assert [r.trigger for r in runs(session_factory)][-1] == "month_close"
    assert [len(state.additions(a)) for a in agreements] == [1, 1]  # each late POST, once
    assert schedule(session_factory, pid).next_month_close_at > datetime.now(UTC) + timedelta(
        days=1
    )


def test_nothing_is_claimed_while_redis_is_away(session_factory, fleet_settings, partner):
    pid, _, _ = partner
    before = schedule(session_factory, pid)
    away = RunQueue.from_settings(replace(fleet_settings, redis_url="redis://127.0.0.1:1/0"))

    scheduler_tick(session_factory, fleet_settings, away)

    after = schedule(session_factory, pid)
    assert runs(session_factory) == []
    assert (after.next_run_at, after.next_month_close_at) == (
        before.next_run_at,
        before.next_month_close_at,
    )

"""start_run(), the service the web pages and the API call: queued for `billing-sync worker`."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from billing_sync.errors import RunInProgress
from billing_sync.launch import AlreadyQueued, Queued, start_run
from billing_sync.lease import release_lease
from billing_sync.models import Run, RunItem
from billing_sync.queue.client import QueueUnavailable, RunQueue
from billing_sync.sync import RunHandle
from tests.sync.conftest import expected_quantities

pytestmark = pytest.mark.slow


def run_row(factory, run_id: int) -> Run:
    with factory() as session:
        return session.get(Run, run_id)


def writes(state) -> int:
    return sum(1 for e in state.log if e.method in ("POST", "PATCH"))


def test_an_api_run_is_queued_at_once_and_a_worker_carries_it_out(
    session_factory, fleet_settings, world, cw_state, run_queue, processes
):
    now = datetime.now(UTC)
    started = start_run(
        session_factory, fleet_settings, Queued(run_queue), world.partner_id, now=now, trigger="api"
    )

    assert (started.status, started.job_id) == ("queued", f"run-{started.run_id}")
    assert run_row(session_factory, started.run_id).status == "queued"
    assert cw_state.log == []  # the caller did no ConnectWise work
    with pytest.raises(RunInProgress):  # the lease is held while the job waits
        start_run(
            session_factory,
            fleet_settings,
            Queued(run_queue),
            world.partner_id,
            now=now,
            trigger="api",
        )

    worker = processes.worker("w", "--burst")
    assert worker.wait(60) == 0, processes.log("w")

    run = run_row(session_factory, started.run_id)
    assert run.status == "succeeded" and run.trigger == "api"
    assert world.quantities() == expected_quantities(world)
    job = run_queue.job(started.job_id)
    assert job.get_status() == "finished" and job.return_value()["status"] == "succeeded"
    lines = [json.loads(line) for line in processes.log("w").splitlines() if line.startswith("{")]
    tagged = [r for r in lines if r.get("run_id") == started.run_id]
    assert tagged and {r["partner_id"] for r in tagged} == {world.partner_id}
    assert {r["job_id"] for r in tagged} == {started.job_id}


def test_a_duplicate_delivery_and_a_second_worker_write_nothing_twice(
    session_factory, fleet_settings, world, cw_state, run_queue, processes
):
    cw_state.faults.latency_seconds = 0.05  # long enough for both workers to hold a job
    started = start_run(
        session_factory,
        fleet_settings,
        Queued(run_queue),
        world.partner_id,
        now=datetime.now(UTC),
        trigger="manual",
    )
    handle = RunHandle.from_dict(_handle(run_queue, started.job_id))  # delivered again
    run_queue.enqueue_run(handle, job_id="redelivered")

    first, second = processes.worker("w1", "--burst"), processes.worker("w2", "--burst")
    assert first.wait(60) == 0 and second.wait(60) == 0, processes.log("w1") + processes.log("w2")

    results = [run_queue.job(job_id).return_value() for job_id in (started.job_id, "redelivered")]
    assert sorted(r["recorded"] for r in results) == [False, True]
    assert run_row(session_factory, started.run_id).status == "succeeded"
    assert writes(cw_state) == len(expected_quantities(world))  # each addition created once
    assert world.quantities() == expected_quantities(world)
    with session_factory() as session:
        assert session.scalars(select(RunItem).where(RunItem.state == "intent")).all() == []


def test_a_repeated_job_id_starts_nothing_and_frees_the_lease(
    session_factory, fleet_settings, world, run_queue
):
    now = datetime.now(UTC)
    first = start_run(
        session_factory,
        fleet_settings,
        Queued(run_queue),
        world.partner_id,
        now=now,
        trigger="schedule",
        job_id="schedule-slot",
        queue="scheduled",
    )
    with session_factory.begin() as session:  # pretend that run ended, so the lease is free
        session.get(Run, first.run_id).status = "succeeded"
    release_lease(session_factory, RunHandle.from_dict(_handle(run_queue, "schedule-slot")).lease)

    with pytest.raises(AlreadyQueued):
        start_run(
            session_factory,
            fleet_settings,
            Queued(run_queue),
            world.partner_id,
            now=now,
            trigger="schedule",
            job_id="schedule-slot",
            queue="scheduled",
        )

    with session_factory() as session:
        assert [r.id for r in session.scalars(select(Run))] == [first.run_id]  # no stray row
    again = start_run(  # and the partner is not blocked
        session_factory,
        fleet_settings,
        Queued(run_queue),
        world.partner_id,
        now=now,
        trigger="manual",
    )
    assert again.status == "queued"


def _handle(run_queue: RunQueue, job_id: str) -> dict:
    return run_queue.job(job_id).kwargs["handle"]


def test_with_redis_down_the_run_is_recorded_failed_and_the_partner_stays_free(
    session_factory, settings, world
):
    settings = replace(settings, redis_url="redis://127.0.0.1:1/0")  # nothing listens
    down = Queued(RunQueue.from_settings(settings))

    with pytest.raises(QueueUnavailable, match="unreachable"):
        start_run(
            session_factory, settings, down, world.partner_id, now=datetime.now(UTC), trigger="api"
        )

    with session_factory() as session:
        [run] = session.scalars(select(Run)).all()
    assert run.status == "failed" and "could not be queued" in run.message
    with pytest.raises(QueueUnavailable):  # refused again for Redis, not for a held lease
        start_run(
            session_factory, settings, down, world.partner_id, now=datetime.now(UTC), trigger="api"
        )

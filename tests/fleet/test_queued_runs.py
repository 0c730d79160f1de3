"""A queued run in the engine: its handle travels as JSON, one delivery starts it, none re-opens."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import select, update

from billing_sync.models import Run, RunLease
from billing_sync.sync import RunHandle, begin_run, execute_run
from tests.sync.conftest import NOW, expected_quantities


def run_row(factory, run_id: int) -> Run:
    with factory() as session:
        return session.get(Run, run_id)


def test_a_handle_survives_a_trip_through_json(session_factory, settings, world):
    handle = begin_run(session_factory, settings, world.partner_id, now=NOW, queued=True)

    again = RunHandle.from_dict(json.loads(json.dumps(handle.to_dict())))

    assert again == handle and again.lease.token == handle.lease.token and again.queued


def test_a_queued_run_holds_the_lease_for_its_wait_then_runs_once(
    session_factory, settings, world, cw_state
):
    handle = begin_run(
        session_factory, settings, world.partner_id, now=NOW, queued=True, hold_seconds=3600
    )
    with session_factory() as session:
        lease = session.get(RunLease, world.partner_id)
        waiting = (lease.expires_at - datetime.now(UTC)).total_seconds()
    assert run_row(session_factory, handle.run_id).status == "queued"
    assert lease.run_id == handle.run_id and waiting > settings.lease_seconds

    report = execute_run(session_factory, settings, handle)

    assert report.status == "succeeded" and report.recorded
    assert run_row(session_factory, handle.run_id).status == "succeeded"
    assert world.quantities() == expected_quantities(world)


def test_a_second_delivery_of_a_queued_run_does_nothing_and_keeps_the_lease(
    session_factory, settings, world, cw_state
):
    handle = begin_run(session_factory, settings, world.partner_id, now=NOW, queued=True)
    with session_factory.begin() as session:  # the first delivery is working on it
        session.execute(update(Run).where(Run.id == handle.run_id).values(status="running"))

    duplicate = execute_run(session_factory, settings, handle)

    assert duplicate.status == "running" and not duplicate.recorded
    assert [e for e in cw_state.log if e.method in ("POST", "PATCH")] == []
    with session_factory() as session:  # the live delivery still holds its lease
        lease = session.scalar(select(RunLease).where(RunLease.partner_id == world.partner_id))
    assert lease.expires_at > datetime.now(UTC) and lease.token == handle.lease.token


def test_an_outcome_never_overwrites_a_run_another_process_closed(session_factory, settings, world):
    handle = begin_run(session_factory, settings, world.partner_id, now=NOW)
    with session_factory.begin() as session:  # reaped: its lease ran out while it was frozen
        closed = {"status": "interrupted", "message": "reaped"}
        session.execute(update(Run).where(Run.id == handle.run_id).values(**closed))

    report = execute_run(session_factory, settings, handle)

    row = run_row(session_factory, handle.run_id)
    assert not report.recorded and (row.status, row.message) == ("interrupted", "reaped")

"""Rolling a run back against the simulator: updates, creates, conflicts, previews, refusals."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from billing_sync import partners
from billing_sync.errors import Conflict, InvalidInput, NotFoundError, RunInProgress
from billing_sync.models import AdditionLink, Run, RunItem
from billing_sync.sync import RunHandle, begin_run, run_sync
from billing_sync.sync.dispatch import carry_out
from billing_sync.sync.rollback import begin_rollback, rollback_run
from billing_sync.sync_status import latest_finished_run
from billing_sync.worklist_queries import failed_company_ids
from tests.sync.conftest import NO_HOLDS, NOW, add_seats, build_world, wait_to_settle

LATER = NOW + timedelta(hours=1)
NOVEMBER = datetime(2026, 11, 10, tzinfo=UTC)
DECEMBER = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)  # the 2026-11 period is closed


def hand_set(state, addition_id: int, quantity: float) -> None:
    """What a person editing the addition in ConnectWise does."""
    with state.lock:
        state.table("additions")[addition_id]["quantity"] = float(quantity)


def patches(state) -> list:
    return [e for e in state.log if e.method == "PATCH"]


def link_quantities(factory, partner_id: int) -> dict[int, float]:
    with factory() as session:
        links = session.scalars(select(AdditionLink).where(AdditionLink.partner_id == partner_id))
        return {link.addition_id: link.last_quantity for link in links}


@pytest.fixture
def world(session_factory, settings, cw, cw_state):
    """The sync tests' world, with no holds: the runs that put hand edits right fall a lot."""
    return build_world(session_factory, settings, cw, cw_state, rules=NO_HOLDS)


def run_row(factory, run_id: int) -> Run:
    with factory() as session:
        return session.get(Run, run_id)


@pytest.fixture
def synced(session_factory, settings, world):
    """The world after a first run created every addition (7 of them)."""
    first = run_sync(session_factory, settings, world.partner_id, now=NOW)
    assert first.status == "succeeded"
    return world, first


def _edited_then_synced(factory, settings, world, edits: dict[str, float]):
    """People change some additions by hand; a second run puts the counts back (updates)."""
    created = world.quantities()
    by_company = {}
    for external_id, quantity in edits.items():
        [addition] = [
            a
            for a in world.additions(external_id)
            if a["product"]["id"] == world.catalog["pb-business"]
        ]
        hand_set(world.state, addition["id"], quantity)
        by_company[external_id] = addition["id"]
    second = run_sync(factory, settings, world.partner_id, now=LATER)
    assert second.status == "succeeded"
    assert world.quantities() == created
    return second, by_company


def test_rolling_back_updates_puts_the_quantities_before_the_run_back(
    session_factory, settings, synced
):
    world, _first = synced
    second, ids = _edited_then_synced(
        session_factory, settings, world, {"ext-001": 9, "ext-002": 7}
    )

    report = rollback_run(session_factory, settings, world.partner_id, second.run_id, now=LATER)

    assert report.status == "succeeded"
    business = world.catalog["pb-business"]
    assert world.quantities()[("ext-001", business)] == 9.0
    assert world.quantities()[("ext-002", business)] == 7.0
    assert sorted(
        (i.company, i.action, i.quantity_before, i.quantity_after) for i in report.items
    ) == [
        ("ext-001", "update", 2.0, 9),
        ("ext-002", "update", 3.0, 7),
    ]
    run = run_row(session_factory, report.run_id)
    assert (run.trigger, run.rollback_of_run_id, run.dry_run) == ("rollback", second.run_id, False)
    assert "the next run writes the counts again" in run.message
    # The link says what ConnectWise carries now, as after any write (drift must not fire).
    links = link_quantities(session_factory, world.partner_id)
    assert (links[ids["ext-001"]], links[ids["ext-002"]]) == (9.0, 7.0)
    with session_factory() as session:
        states = session.scalars(select(RunItem.state).where(RunItem.run_id == report.run_id))
        assert sorted(states) == ["done", "done"]


def test_rolling_back_creates_sets_them_to_zero_and_deletes_nothing(
    session_factory, settings, synced, cw_state
):
    world, first = synced

    report = rollback_run(session_factory, settings, world.partner_id, first.run_id, now=LATER)

    assert report.status == "succeeded"
    assert len(report.items) == 7 and {i.action for i in report.items} == {"update"}
    assert set(world.quantities().values()) == {0.0}
    assert len(world.quantities()) == 7  # every addition is still there, at 0
    assert sum(1 for e in cw_state.log if e.method == "POST") == 7  # the first run's creates


def test_a_value_changed_after_the_run_is_a_conflict_and_left_alone(
    session_factory, settings, synced
):
    world, _first = synced
    second, ids = _edited_then_synced(
        session_factory, settings, world, {"ext-001": 9, "ext-002": 7}
    )
    hand_set(world.state, ids["ext-002"], 5)  # a person changes it again after the run

    report = rollback_run(session_factory, settings, world.partner_id, second.run_id, now=LATER)

    by_company = {i.company: i for i in report.items}
    assert report.status == "partial"
    assert by_company["ext-001"].action == "update"
    conflict = by_company["ext-002"]
    assert conflict.action == "error" and conflict.error.startswith("conflict:")
    assert "shows 5" in conflict.error and "3" in conflict.error
    assert world.quantities()[("ext-002", world.catalog["pb-business"])] == 5.0
    with session_factory() as session:  # the company's sync status still follows the syncs
        assert latest_finished_run(session, world.partner_id).id == second.run_id
        assert failed_company_ids(session, world.partner_id) == set()


def test_a_value_a_later_run_changed_is_a_conflict(session_factory, settings, synced):
    world, first = synced
    with session_factory.begin() as session:  # three more users in November
        company, product = world.companies["ext-003"], world.products["pb-business"]
        add_seats(session, world.partner_id, company, product, 3, prefix="late", start=NOVEMBER)
    later = run_sync(session_factory, settings, world.partner_id, now=DECEMBER)
    assert later.status == "succeeded"

    report = rollback_run(session_factory, settings, world.partner_id, first.run_id, now=DECEMBER)

    [conflict] = [i for i in report.items if i.action == "error"]
    assert conflict.company == "ext-003" and conflict.product == "pb-business"
    assert conflict.error.startswith("conflict: ConnectWise shows 7, not the 4 run")
    assert world.quantities()[("ext-003", world.catalog["pb-business"])] == 7.0
    assert report.status == "partial" and len(report.items) == 7


def test_rolling_back_a_rollback_restores_the_original_values(session_factory, settings, synced):
    world, first = synced
    written = world.quantities()
    undone = rollback_run(session_factory, settings, world.partner_id, first.run_id, now=LATER)

    redone = rollback_run(session_factory, settings, world.partner_id, undone.run_id, now=LATER)

    assert redone.status == "succeeded" and world.quantities() == written
    assert run_row(session_factory, redone.run_id).rollback_of_run_id == undone.run_id
    assert set(link_quantities(session_factory, world.partner_id).values()) == set(written.values())


def test_a_dry_run_writes_nothing_and_shows_what_would_happen(
    session_factory, settings, synced, cw_state
):
    world, first = synced
    before = world.quantities()
    sent = len(patches(cw_state))

    preview = rollback_run(
        session_factory, settings, world.partner_id, first.run_id, now=LATER, dry_run=True
    )

    assert preview.status == "succeeded" and len(preview.items) == 7
    assert {(i.action, i.quantity_after) for i in preview.items} == {("update", 0)}
    assert world.quantities() == before and len(patches(cw_state)) == sent
    run = run_row(session_factory, preview.run_id)
    assert run.dry_run and run.trigger == "rollback"
    with pytest.raises(InvalidInput, match="preview"):
        rollback_run(session_factory, settings, world.partner_id, preview.run_id, now=LATER)


def test_refusals_say_why_in_one_line(session_factory, settings, synced):
    world, first = synced
    with pytest.raises(NotFoundError, match="no run 999"):
        rollback_run(session_factory, settings, world.partner_id, 999, now=LATER)
    with session_factory.begin() as session:
        other = partners.create_partner(session, "other", now=NOW).id
    with pytest.raises(NotFoundError, match=f"no run {first.run_id}"):
        rollback_run(session_factory, settings, other, first.run_id, now=LATER)
    unchanged = run_sync(session_factory, settings, world.partner_id, now=LATER)
    with pytest.raises(InvalidInput, match="changed nothing"):
        rollback_run(session_factory, settings, world.partner_id, unchanged.run_id, now=LATER)
    running = begin_run(session_factory, settings, world.partner_id, now=LATER)
    with pytest.raises(Conflict, match="still running"):
        rollback_run(session_factory, settings, world.partner_id, running.run_id, now=LATER)
    with pytest.raises(RunInProgress):  # the lease: one run per partner, rollbacks included
        rollback_run(session_factory, settings, world.partner_id, first.run_id, now=LATER)


def test_an_interrupted_rollback_is_settled_and_never_written_twice(
    session_factory, fast_settings, cw, cw_state
):
    settings = fast_settings
    world = build_world(session_factory, settings, cw, cw_state, companies=2)
    first = run_sync(session_factory, settings, world.partner_id, now=NOW)
    cw_state.faults.lose_next_patches = 100  # every PATCH lands, no answer comes back

    broken = rollback_run(session_factory, settings, world.partner_id, first.run_id, now=LATER)
    cw_state.faults.lose_next_patches = 0
    assert broken.status == "failed"
    assert {i.error.split(":")[0] for i in broken.items} == {"outcome unknown"}
    assert set(world.quantities().values()) == {0.0}  # they landed all the same
    sent = len(patches(cw_state))

    # At once: each write is either still in flight (blocked) or settled from what CW shows.
    early = rollback_run(session_factory, settings, world.partner_id, first.run_id, now=LATER)
    assert all(i.action == "unchanged" or "may still land" in i.error for i in early.items)
    assert len(patches(cw_state)) == sent
    wait_to_settle(settings)
    finished = rollback_run(session_factory, settings, world.partner_id, first.run_id, now=LATER)

    assert finished.status == "succeeded"
    assert {i.action for i in finished.items} == {"unchanged"}
    assert len(patches(cw_state)) == sent  # settled from what ConnectWise shows, not re-sent
    with session_factory() as session:
        states = session.scalars(select(RunItem.state).where(RunItem.run_id == broken.run_id))
        assert set(states) == {"settled_done"}


def test_a_normal_run_settles_a_rollback_left_in_flight(
    session_factory, fast_settings, cw, cw_state
):
    settings = fast_settings
    world = build_world(session_factory, settings, cw, cw_state, companies=1)
    first = run_sync(session_factory, settings, world.partner_id, now=NOW)
    cw_state.faults.lose_next_patches = 100
    broken = rollback_run(session_factory, settings, world.partner_id, first.run_id, now=LATER)
    cw_state.faults.lose_next_patches = 0
    wait_to_settle(settings)

    run = run_sync(session_factory, settings, world.partner_id, now=LATER)

    with session_factory() as session:
        items = session.scalars(select(RunItem).where(RunItem.run_id == broken.run_id)).all()
        assert {(i.state, i.settled_by_run_id) for i in items} == {("settled_done", run.run_id)}
    # The counts did not change, so that run writes them again (as the CLI says it will).
    assert {i.action for i in run.items if i.quantity_after} == {"update"}


def test_a_queued_rollback_travels_as_json_and_a_worker_carries_it_out_once(
    session_factory, settings, synced
):
    world, first = synced
    handle = begin_rollback(
        session_factory, settings, world.partner_id, first.run_id, now=LATER, queued=True
    )
    assert run_row(session_factory, handle.run_id).status == "queued"
    delivered = RunHandle.from_dict(json.loads(json.dumps(handle.to_dict())))

    report = carry_out(session_factory, settings, delivered)  # what a worker's job calls
    again = carry_out(session_factory, settings, delivered)

    assert report.status == "succeeded" and set(world.quantities().values()) == {0.0}
    assert not again.recorded and again.status == "succeeded"
    assert run_row(session_factory, handle.run_id).rollback_of_run_id == first.run_id

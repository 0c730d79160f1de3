"""Holds against the simulator: each trigger and its default, approve, reject, first run."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from billing_sync.guard_rules import save_rules
from billing_sync.holds import decide
from tests.guardrails.helpers import (
    DEFAULTS,
    addition,
    holds,
    item,
    make_live,
    posts_and_patches,
    run_row,
    set_count,
    set_rules,
    sync,
)
from tests.sync.conftest import NO_HOLDS, NOW, expected_quantities

DECIDED = datetime(2026, 11, 5, 13, 0, tzinfo=UTC)


@pytest.fixture
def live(session_factory, world):
    make_live(session_factory, world)
    return world


def _held_from(factory, settings, world, start: int, count: int):
    """ext-001 pb-business written at `start` (no rules), then planned at `count` (defaults)."""
    set_rules(factory, world, NO_HOLDS)
    set_count(factory, world, "ext-001", "pb-business", start)
    sync(factory, settings, world)
    set_rules(factory, world, DEFAULTS)
    set_count(factory, world, "ext-001", "pb-business", count)
    return sync(factory, settings, world)


def _decide(factory, world, ids, decision):
    with factory.begin() as session:
        decide(session, world.partner_id, ids, decision, by="ana", now=DECIDED)


@pytest.mark.parametrize(
    "start, count, rule",
    [
        (2, 25, "rise"),  # +1150 % and 23 users: over 50 % and 10 users
        (2, 12, None),  # 10 users is not more than 10
        (20, 14, "fall"),  # -30 % and 6 users: over 25 % and 5 users
        (20, 15, None),  # 5 users is not more than 5
        (3, 0, "zero"),  # to zero, however small
    ],
)
def test_each_trigger_holds_by_default_and_writes_below_it(
    session_factory, settings, live, cw_state, start, count, rule
):
    report = _held_from(session_factory, settings, live, start, count)

    got = item(report, "ext-001", "pb-business")
    if rule is None:
        assert (got.action, report.status) == ("update", "succeeded")
        assert addition(live, "ext-001", "pb-business")["quantity"] == count
        assert holds(session_factory) == []
        return
    assert (got.action, report.status) == ("held", "held")
    assert f"{rule} rule: " in got.error and f"{start} -> {count}" in got.error
    assert addition(live, "ext-001", "pb-business")["quantity"] == start  # not written
    (hold,) = holds(session_factory)
    assert (hold.rule, hold.status, hold.quantity_before, hold.quantity_after) == (
        rule,
        "open",
        start,
        count,
    )
    assert hold.addition_id == addition(live, "ext-001", "pb-business")["id"]
    assert hold.run_id == report.run_id and run_row(session_factory, report.run_id).held == 1


def test_an_open_hold_is_reported_again_once_and_a_new_count_supersedes_it(
    session_factory, settings, live
):
    first = _held_from(session_factory, settings, live, 2, 25)
    again = sync(session_factory, settings, live)

    assert item(again, "ext-001", "pb-business").action == "held"
    assert "waiting for a decision" in item(again, "ext-001", "pb-business").error
    assert len(holds(session_factory)) == 1

    set_count(session_factory, live, "ext-001", "pb-business", 30)
    moved = sync(session_factory, settings, live)

    old, new = holds(session_factory)
    assert (old.run_id, old.status) == (first.run_id, "superseded")
    assert (new.run_id, new.status, new.quantity_after) == (moved.run_id, "open", 30)


def test_an_approved_hold_is_written_by_the_approval_run_and_never_held_again(
    session_factory, settings, live, cw_state
):
    _held_from(session_factory, settings, live, 2, 25)
    (hold,) = holds(session_factory)
    _decide(session_factory, live, [hold.id], "approved")

    approval = sync(session_factory, settings, live, trigger="approval")

    assert (item(approval, "ext-001", "pb-business").action, approval.status) == (
        "update",
        "succeeded",
    )
    assert addition(live, "ext-001", "pb-business")["quantity"] == 25
    (hold,) = holds(session_factory)
    assert (hold.status, hold.written_run_id) == ("approved", approval.run_id)
    cw_state.clear_log()
    later = sync(session_factory, settings, live)
    assert item(later, "ext-001", "pb-business").action == "unchanged"
    assert posts_and_patches(cw_state) == [] and len(holds(session_factory)) == 1


@pytest.mark.parametrize("edited, action", [(1, "held"), (20, "update")])
def test_approval_replans_when_connectwise_changed_meanwhile(
    session_factory, settings, live, cw_state, edited, action
):
    _held_from(session_factory, settings, live, 2, 25)
    (hold,) = holds(session_factory)
    _decide(session_factory, live, [hold.id], "approved")
    cw_state.edit_addition(
        addition(live, "ext-001", "pb-business")["id"], quantity=edited, updated_by="jdoe"
    )

    approval = sync(session_factory, settings, live, trigger="approval")

    got = item(approval, "ext-001", "pb-business")
    assert got.action == action  # judged afresh from what ConnectWise shows now
    assert holds(session_factory)[0].status == "superseded"
    if action == "held":  # 1 -> 25 is a rise of 24 users: held again, as a new hold
        assert holds(session_factory)[1].quantity_before == edited
        assert addition(live, "ext-001", "pb-business")["quantity"] == edited
    else:  # 20 -> 25 is +25 %: written
        assert addition(live, "ext-001", "pb-business")["quantity"] == 25


def test_a_rejected_hold_is_not_written_until_the_count_changes(
    session_factory, settings, live, cw_state
):
    _held_from(session_factory, settings, live, 2, 25)
    (hold,) = holds(session_factory)
    _decide(session_factory, live, [hold.id], "rejected")

    after = sync(session_factory, settings, live)

    got = item(after, "ext-001", "pb-business")
    assert got.action == "skipped" and after.status == "succeeded"
    assert "rejected by ana" in got.error and "keeps 2 until the count changes" in got.error
    assert addition(live, "ext-001", "pb-business")["quantity"] == 2
    set_count(session_factory, live, "ext-001", "pb-business", 3)
    changed = sync(session_factory, settings, live)
    assert item(changed, "ext-001", "pb-business").action == "update"
    assert addition(live, "ext-001", "pb-business")["quantity"] == 3


def test_a_first_run_above_the_total_holds_every_write_until_approved(
    session_factory, settings, world, cw_state
):
    set_rules(session_factory, world, {"first_run_total": 10})  # the world pushes 16 users

    first = sync(session_factory, settings, world)

    assert first.status == "held" and posts_and_patches(cw_state) == []
    assert sum(1 for i in first.items if i.action == "held") == 7
    assert {h.rule for h in holds(session_factory)} == {"first_run"}
    _decide(session_factory, world, None, "approved")
    approval = sync(session_factory, settings, world, trigger="approval")
    assert approval.status == "succeeded"
    assert world.quantities() == expected_quantities(world)
    make_live(session_factory, world)  # a later run is no first run: its writes go out
    set_count(session_factory, world, "ext-000", "pb-business", 2)
    later = sync(session_factory, settings, world)
    assert (item(later, "ext-000", "pb-business").action, later.status) == ("update", "succeeded")


def test_a_preview_reports_held_items_and_stores_no_hold(session_factory, settings, live):
    set_rules(session_factory, live, NO_HOLDS)
    sync(session_factory, settings, live)
    set_rules(session_factory, live, DEFAULTS)
    set_count(session_factory, live, "ext-001", "pb-business", 25)

    preview = sync(session_factory, settings, live, dry_run=True)

    assert item(preview, "ext-001", "pb-business").action == "held"
    assert preview.status == "held" and holds(session_factory) == []


def test_an_open_hold_is_superseded_when_the_count_comes_back(session_factory, settings, live):
    _held_from(session_factory, settings, live, 2, 25)
    set_count(session_factory, live, "ext-001", "pb-business", 2)  # the bad feed was fixed

    back = sync(session_factory, settings, live)

    assert (item(back, "ext-001", "pb-business").action, back.status) == ("unchanged", "succeeded")
    assert [h.status for h in holds(session_factory)] == ["superseded"]


def test_a_company_override_judges_that_company_only(session_factory, settings, live):
    set_rules(session_factory, live, NO_HOLDS)
    sync(session_factory, settings, live)
    set_rules(session_factory, live, DEFAULTS)
    with session_factory.begin() as session:  # ext-002 is watched closely: any rise of 1+ user
        save_rules(session, live.partner_id, live.companies["ext-002"], {"rise_users": 0}, now=NOW)
    set_count(session_factory, live, "ext-001", "pb-business", 4)  # 2 -> 4
    set_count(session_factory, live, "ext-002", "pb-business", 6)  # 3 -> 6

    report = sync(session_factory, settings, live)

    assert item(report, "ext-001", "pb-business").action == "update"
    assert item(report, "ext-002", "pb-business").action == "held"

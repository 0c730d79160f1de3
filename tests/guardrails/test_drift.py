"""Drift against the simulator: a hand edit found, who made it, and each policy."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from billing_sync.holds import decide
from billing_sync.models import AdditionLink, RunItem
from tests.guardrails.helpers import (
    addition,
    drifts,
    holds,
    item,
    make_live,
    posts_and_patches,
    set_count,
    set_rules,
    sync,
)

EDITED_AT = datetime(2026, 11, 5, 9, 30, tzinfo=UTC)


@pytest.fixture
def edited(session_factory, settings, world, cw_state):
    """ext-002 pb-business written at 3, then set to 5 by jdoe in ConnectWise."""
    make_live(session_factory, world)
    sync(session_factory, settings, world)
    cw_state.edit_addition(
        addition(world, "ext-002", "pb-business")["id"],
        quantity=5,
        updated_by="jdoe",
        at=EDITED_AT,
    )
    cw_state.clear_log()
    return world


def _link(factory, world) -> AdditionLink:
    with factory() as session:
        return session.scalar(
            select(AdditionLink).where(
                AdditionLink.company_id == world.companies["ext-002"],
                AdditionLink.product_id == world.products["pb-business"],
            )
        )


def test_overwrite_is_the_default_and_records_who_edited(session_factory, settings, edited):
    report = sync(session_factory, settings, edited)

    got = item(report, "ext-002", "pb-business")
    assert (got.action, got.quantity_before, got.quantity_after) == ("update", 5.0, 3)
    assert addition(edited, "ext-002", "pb-business")["quantity"] == 3
    (drift,) = drifts(session_factory)
    assert (drift.expected, drift.found, drift.changed_by, drift.changed_at) == (
        3,
        5,
        "jdoe",
        EDITED_AT,
    )
    assert (drift.policy, drift.status) == ("overwrite", "resolved")
    assert drift.note == f"overwritten by run {report.run_id}"
    sync(session_factory, settings, edited)
    assert len(drifts(session_factory)) == 1  # nothing new: ConnectWise shows our value again


def test_hold_policy_holds_the_overwrite_once_until_approved(
    session_factory, settings, edited, cw_state
):
    set_rules(session_factory, edited, {"drift_policy": "hold"})

    first = sync(session_factory, settings, edited)
    again = sync(session_factory, settings, edited)

    assert item(first, "ext-002", "pb-business").action == "held"
    assert (
        "jdoe set 5 by hand on 2026-11-05 09:30 UTC" in item(first, "ext-002", "pb-business").error
    )
    assert item(again, "ext-002", "pb-business").action == "held"
    assert posts_and_patches(cw_state) == []
    assert [(h.rule, h.status) for h in holds(session_factory)] == [("drift", "open")]
    assert [(d.policy, d.status) for d in drifts(session_factory)] == [("hold", "open")]
    with session_factory.begin() as session:
        decide(session, edited.partner_id, None, "approved", by="ana", now=EDITED_AT)
    approval = sync(session_factory, settings, edited, trigger="approval")
    assert approval.status == "succeeded"
    assert addition(edited, "ext-002", "pb-business")["quantity"] == 3
    assert [d.status for d in drifts(session_factory)] == ["resolved"]


def test_adopt_keeps_the_hand_value_until_the_count_changes(
    session_factory, settings, edited, cw_state
):
    set_rules(session_factory, edited, {"drift_policy": "adopt"})

    adopted = sync(session_factory, settings, edited)

    got = item(adopted, "ext-002", "pb-business")
    assert got.action == "unchanged" and "adopted" in got.advice
    assert addition(edited, "ext-002", "pb-business")["quantity"] == 5
    link = _link(session_factory, edited)
    assert (link.last_quantity, link.adopted_at_count) == (5, 3)
    (drift,) = drifts(session_factory)
    assert (drift.policy, drift.status) == ("adopt", "resolved")
    later = sync(session_factory, settings, edited)
    assert item(later, "ext-002", "pb-business").action == "unchanged"
    assert posts_and_patches(cw_state) == []

    set_count(session_factory, edited, "ext-002", "pb-business", 4)
    moved = sync(session_factory, settings, edited)

    assert item(moved, "ext-002", "pb-business").action == "update"
    assert addition(edited, "ext-002", "pb-business")["quantity"] == 4
    assert _link(session_factory, edited).adopted_at_count is None
    assert len(drifts(session_factory)) == 1


def test_a_preview_shows_the_policy_and_stores_no_drift(session_factory, settings, edited):
    preview = sync(session_factory, settings, edited, dry_run=True)

    assert item(preview, "ext-002", "pb-business").action == "update"
    assert drifts(session_factory) == []


def test_an_update_settled_by_a_later_run_is_not_taken_for_a_hand_edit(
    session_factory, settings, world, cw_state
):
    make_live(session_factory, world)
    first = sync(session_factory, settings, world)
    target = addition(world, "ext-002", "pb-business")
    set_count(session_factory, world, "ext-002", "pb-business", 7)
    # A PATCH to 7 whose answer was lost: the intent stays open, ConnectWise applied it.
    cw_state.edit_addition(target["id"], quantity=7, updated_by="integrator")
    with session_factory.begin() as session:
        session.add(
            RunItem(
                run_id=first.run_id,
                partner_id=world.partner_id,
                company_id=world.companies["ext-002"],
                product_id=world.products["pb-business"],
                agreement_id=world.agreements["ext-002"],
                addition_id=target["id"],
                action="update",
                state="intent",
                quantity_before=3,
                quantity_after=7,
                settle_after=EDITED_AT,
                created_at=EDITED_AT,
            )
        )

    report = sync(session_factory, settings, world)

    assert item(report, "ext-002", "pb-business").action == "unchanged"
    assert drifts(session_factory) == []
    assert _link(session_factory, world).last_quantity == 7  # the settled write, remembered

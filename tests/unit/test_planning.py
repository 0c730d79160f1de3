"""Pure planning: counts + links + current additions -> changes (no fixtures, plain values)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from billing_sync.connectwise.records import Addition
from billing_sync.planning import (
    Blocked,
    Change,
    Wanted,
    current_additions,
    differs_from_preview,
    plan_agreement,
    plan_item,
)

T = datetime(2026, 11, 1, tzinfo=UTC)


def addition(id: int, product: int, quantity: float) -> Addition:
    return Addition(id, 10, product, None, quantity, "Billable", T, None)


@pytest.mark.parametrize(
    "quantity, linked, active, expected",
    [
        (5, None, [], ("create", None, None, False)),
        (0, None, [], ("skipped", None, None, False)),
        (5, None, [addition(7, 100, 5.0)], ("unchanged", 7, 5.0, True)),
        (5, None, [addition(7, 100, 3.0)], ("update", 7, 3.0, True)),
        (0, None, [addition(7, 100, 3.0)], ("update", 7, 3.0, True)),
        (5, 7, [addition(7, 100, 5.0000001)], ("unchanged", 7, 5.0000001, False)),
        (5, 7, [addition(7, 100, 2.0), addition(8, 100, 9.0)], ("error", None, None, False)),
        (5, 99, [addition(8, 100, 9.0)], ("update", 8, 9.0, True)),  # linked one is gone: adopt
        (5, None, [addition(8, 200, 9.0)], ("create", None, None, False)),  # other product
    ],
    ids=[
        "create",
        "zero-creates-nothing",
        "adopt-equal",
        "adopt-differs",
        "zero-on-existing",
        "tolerance",
        "a-linked-duplicate-is-still-a-duplicate",
        "relink",
        "other-product-ignored",
    ],
)
def test_plan_item(quantity, linked, active, expected):
    change = plan_item(Wanted(1, 2, 100, quantity, linked), active)

    assert (change.action, change.addition_id, change.quantity_before, change.adopted) == expected
    assert change.quantity_after == quantity


def test_several_unlinked_additions_with_the_product_are_ambiguous():
    change = plan_item(Wanted(1, 2, 100, 5), [addition(8, 100, 1), addition(9, 100, 2)])

    assert change.action == "error"
    assert "8, 9" in change.error and change.advice


def test_two_vendor_products_on_one_catalog_item_fail_both_claims():
    changes = plan_agreement([Wanted(1, 2, 100, 5), Wanted(1, 3, 100, 1)], [])

    assert [c.action for c in changes] == ["error", "error"]
    assert "several vendor products" in changes[0].error


def test_the_same_inputs_always_give_the_same_plan():
    wants = [Wanted(1, 2, 100, 5, 7), Wanted(1, 3, 200, 0)]
    active = [addition(7, 100, 4.0)]

    assert plan_agreement(wants, active) == plan_agreement(wants, active)


def test_a_duplicate_names_every_addition_and_writes_nothing():
    active = [addition(9, 100, 1.0), addition(7, 100, 2.0), addition(8, 100, 3.0)]

    change = plan_item(Wanted(1, 2, 100, 5, linked_addition_id=7), active)

    assert change.action == "error" and not change.is_write
    assert "7, 8, 9" in change.error and "Cancel the extra" in change.advice


def test_records_of_another_agreement_or_cancelled_are_not_current():
    ours = addition(7, 100, 2.0)
    foreign = Addition(8, 11, 100, None, 4.0, "Billable", T, None)
    cancelled = Addition(9, 10, 100, None, 4.0, "Billable", T, T)

    assert current_additions([ours, foreign, cancelled], 10, T) == [ours]


def test_a_blocked_item_reports_its_reason_and_writes_nothing():
    blocked = Blocked("error", "an earlier create may still land", "wait")

    change = plan_item(Wanted(1, 2, 100, 5, blocked=blocked), [addition(7, 100, 2.0)])

    assert (change.action, change.addition_id, change.quantity_before) == ("error", 7, 2.0)
    assert change.error == "an earlier create may still land" and not change.is_write


def test_apply_re_plans_only_what_moved_since_the_preview():
    planned = Change(1, 2, 100, "update", 5, addition_id=7, quantity_before=3.0)
    moved = Change(1, 2, 100, "update", 5, addition_id=7, quantity_before=4.0)

    assert differs_from_preview(planned, planned) is False
    assert differs_from_preview(moved, planned) is True
    assert differs_from_preview(planned, None) is True

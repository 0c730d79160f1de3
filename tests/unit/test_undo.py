"""The pure core of a rollback: which ledger items it undoes and what each addition needs."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from billing_sync.connectwise.records import Addition
from billing_sync.planning import Blocked
from billing_sync.sync.undo import Undo, plan_undo, undos_of


def item(action="update", state="done", before=2.0, after=5.0, addition_id=70, **extra):
    values = dict(company_id=1, product_id=2, agreement_id=30, addition_id=addition_id)
    values.update(extra)
    return SimpleNamespace(
        action=action, state=state, quantity_before=before, quantity_after=after, **values
    )


def addition(quantity: float, id: int = 70) -> Addition:
    return Addition(id, 30, 9, "PB-BUS", quantity, "Billable", None, None)


def test_only_writes_that_reached_connectwise_are_undone_and_creates_go_back_to_zero():
    items = [
        item(),
        item(action="create", before=None, after=4.0, addition_id=71),
        item(state="failed", addition_id=72),
        item(state="intent", addition_id=73),
        item(state="settled_done", addition_id=74),
        item(action="unchanged", addition_id=75),
        item(action="error", addition_id=76),
    ]

    undos = undos_of(items)

    assert [(u.addition_id, u.set_to, u.restore) for u in undos] == [
        (70, 5.0, 2.0),
        (71, 4.0, 0.0),
        (74, 5.0, 2.0),
    ]


UNDO = Undo(1, 2, 30, 70, set_to=5.0, restore=2.0)


@pytest.mark.parametrize(
    ("shown", "action", "error"),
    [
        (5.0, "update", None),  # still the run's value: put the old one back
        (2.0, "unchanged", None),  # already back (e.g. an earlier rollback's write landed)
        (8.0, "error", "conflict: ConnectWise shows 8, not the 5 run 12 set; left at 8"),
    ],
)
def test_an_addition_goes_back_only_while_it_carries_the_runs_value(shown, action, error):
    change = plan_undo(UNDO, [addition(shown)], run_id=12, cw_product_id=9, managed_addition_id=70)

    assert (change.action, change.quantity_before, change.quantity_after) == (action, shown, 2)
    assert change.error == error or change.error.startswith(error)


def test_a_cancelled_addition_is_a_conflict_and_an_unmanaged_one_is_left_alone():
    gone = plan_undo(UNDO, [], run_id=12, cw_product_id=9, managed_addition_id=70)
    moved = plan_undo(UNDO, [addition(5.0)], run_id=12, cw_product_id=9, managed_addition_id=99)

    assert gone.action == "error" and gone.error.startswith("conflict: addition 70")
    assert moved.action == "error" and "no longer manages addition 70" in moved.error


def test_a_write_in_flight_blocks_the_undo_and_a_fraction_is_never_sent():
    blocked = Blocked("error", "an earlier update (run 13) may still land")
    waiting = plan_undo(
        UNDO, [addition(5.0)], run_id=12, cw_product_id=9, managed_addition_id=70, blocked=blocked
    )
    fraction = Undo(1, 2, 30, 70, set_to=5.0, restore=2.5)
    refused = plan_undo(
        fraction, [addition(5.0)], run_id=12, cw_product_id=9, managed_addition_id=70
    )

    assert waiting.action == "error" and "may still land" in waiting.error
    assert refused.action == "error" and "not a whole number" in refused.error

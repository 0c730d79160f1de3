"""Pure: what rolling a run back means for each addition it changed, given what ConnectWise shows.

A run's ledger says which additions it wrote and the quantity each carried before. Undoing one
puts that quantity back, but only while ConnectWise still shows the run's value: anything else
means a later run or a person changed it since, and their value stands (a conflict).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from billing_sync.connectwise.records import Addition
from billing_sync.planning import Blocked, Change

WRITES = ("create", "update")
LANDED = ("done", "settled_done")  # ledger states of a write ConnectWise applied
TOLERANCE = 1e-6
CONFLICT_ADVICE = (
    "A later run or a person changed this addition after the run being rolled back; its value "
    "stands. Set it by hand in ConnectWise if the earlier value is the right one."
)
UNMANAGED_ADVICE = (
    "The company was mapped to another agreement (or the addition replaced) since that run, so "
    "billing-sync no longer manages this addition and leaves it alone."
)
FRACTION_ADVICE = "billing-sync writes whole quantities only; set this one by hand in ConnectWise."


@dataclass(frozen=True)
class Undo:
    """One addition a run changed: the value the run set, and the value to put back."""

    company_id: int
    product_id: int
    agreement_id: int
    addition_id: int
    set_to: float  # what the run wrote
    restore: float  # what it carried before (0 for an addition the run created)


def undos_of(items: Iterable) -> list[Undo]:
    """The additions a run's ledger items changed in ConnectWise, one per addition (the last)."""
    found: dict[int, Undo] = {}
    for item in items:
        if item.action not in WRITES or item.state not in LANDED or item.addition_id is None:
            continue
        if item.company_id is None or item.product_id is None or item.agreement_id is None:
            continue
        before = 0.0 if item.action == "create" else item.quantity_before
        found[item.addition_id] = Undo(
            item.company_id,
            item.product_id,
            item.agreement_id,
            item.addition_id,
            float(item.quantity_after or 0),
            float(before or 0),
        )
    return list(found.values())


def _same(a: float, b: float) -> bool:
    return abs(a - b) < TOLERANCE


def plan_undo(
    undo: Undo,
    active: list[Addition],
    *,
    run_id: int,
    cw_product_id: int,
    managed_addition_id: int | None,
    blocked: Blocked | None = None,
) -> Change:
    """Decide one addition: update back, unchanged (already back), or an error left alone."""
    current = next((a for a in active if a.id == undo.addition_id), None)
    base = {
        "company_id": undo.company_id,
        "product_id": undo.product_id,
        "cw_product_id": cw_product_id,
        "addition_id": undo.addition_id,
        "quantity_after": round(undo.restore),
        "quantity_before": current.quantity if current else None,
    }
    if blocked is not None:
        return Change(action="error", error=blocked.message, advice=blocked.advice, **base)
    if current is None:
        error = (
            f"conflict: addition {undo.addition_id} is cancelled or gone in ConnectWise; "
            f"run {run_id} had set it to {undo.set_to:g}, so {undo.restore:g} is not put back"
        )
        return Change(action="error", error=error, advice=CONFLICT_ADVICE, **base)
    if managed_addition_id != undo.addition_id:
        error = f"not rolled back: billing-sync no longer manages addition {undo.addition_id}"
        return Change(action="error", error=error, advice=UNMANAGED_ADVICE, **base)
    if _same(current.quantity, undo.restore):
        return Change(action="unchanged", **base)
    if not _same(current.quantity, undo.set_to):
        error = (
            f"conflict: ConnectWise shows {current.quantity:g}, not the {undo.set_to:g} run "
            f"{run_id} set; left at {current.quantity:g} (a later run or a person changed it)"
        )
        return Change(action="error", error=error, advice=CONFLICT_ADVICE, **base)
    if not undo.restore.is_integer():
        error = f"not rolled back: the quantity before, {undo.restore:g}, is not a whole number"
        return Change(action="error", error=error, advice=FRACTION_ADVICE, **base)
    return Change(action="update", **base)

"""Pure planning: month-end counts + mappings + current additions -> what must change."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from billing_sync.connectwise.records import Addition

TOLERANCE = 1e-6  # CW stores quantity as a double; we only ever send whole numbers


@dataclass(frozen=True)
class Blocked:
    """Why nothing may be written for an item this run, and what the admin can do."""

    action: str  # "error" (the run is partial) or "skipped" (nothing is wrong)
    message: str
    advice: str | None = None


@dataclass(frozen=True)
class Wanted:
    """One mapped (company, product) on an agreement and the quantity it must carry."""

    company_id: int
    product_id: int
    cw_product_id: int
    quantity: int
    linked_addition_id: int | None = None
    blocked: Blocked | None = None


@dataclass(frozen=True)
class Change:
    """The decision for one Wanted: create, update, unchanged, skipped or error."""

    company_id: int
    product_id: int
    cw_product_id: int
    action: str
    quantity_after: int
    addition_id: int | None = None
    quantity_before: float | None = None
    adopted: bool = False
    error: str | None = None
    advice: str | None = None

    @property
    def is_write(self) -> bool:
        """Whether applying this change sends a POST or PATCH."""
        return self.action in ("create", "update")

    def same_plan(self, other: Change) -> bool:
        """The same write (or non-write) on the same addition, from the same before value."""
        return (
            self.action == other.action
            and self.addition_id == other.addition_id
            and self.quantity_after == other.quantity_after
            and _same(self.quantity_before, other.quantity_before)
        )


DUPLICATE_ADVICE = (
    "Several active additions on this agreement carry the product, so the customer may be billed "
    "twice. Cancel the extra ones in ConnectWise (set their cancelled date) so exactly one "
    "remains, then sync again; billing-sync writes nothing to this item until then."
)
SHARED_PRODUCT_ADVICE = (
    "Two vendor products are mapped to the same ConnectWise catalog item; map each vendor "
    "product to its own catalog item."
)


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) < TOLERANCE


def current_additions(additions: Iterable[Addition], agreement_id: int, at: datetime) -> list:
    """Only this agreement's records active at `at`: the server's filter is not trusted."""
    return [a for a in additions if a.agreement_id == agreement_id and a.is_active(at)]


def plan_item(want: Wanted, active: list[Addition]) -> Change:
    """Decide one item; quantities are absolute, so the same inputs always give the same change."""
    base = {
        "company_id": want.company_id,
        "product_id": want.product_id,
        "cw_product_id": want.cw_product_id,
        "quantity_after": want.quantity,
    }
    carrying = sorted((a for a in active if a.product_id == want.cw_product_id), key=lambda a: a.id)
    if len(carrying) > 1:  # linked or not: a duplicate is never silently managed
        ids = ", ".join(str(a.id) for a in carrying)
        return Change(
            action="error",
            error=f"duplicate additions: {ids} all carry catalog item {want.cw_product_id}",
            advice=DUPLICATE_ADVICE,
            **base,
        )
    addition = carrying[0] if carrying else None
    before = addition.quantity if addition else None
    if want.blocked is not None:
        return Change(
            action=want.blocked.action,
            addition_id=addition.id if addition else None,
            quantity_before=before,
            error=want.blocked.message,
            advice=want.blocked.advice,
            **base,
        )
    if addition is None:
        return Change(action="skipped" if want.quantity == 0 else "create", **base)
    action = "unchanged" if _same(addition.quantity, want.quantity) else "update"
    return Change(
        action=action,
        addition_id=addition.id,
        quantity_before=before,
        adopted=addition.id != want.linked_addition_id,
        **base,
    )


def plan_agreement(wants: Iterable[Wanted], active: list[Addition]) -> list[Change]:
    """Decide every item of one agreement; a catalog item claimed twice fails both claims."""
    wants = list(wants)
    claims = Counter(w.cw_product_id for w in wants)
    changes = []
    for want in wants:
        if claims[want.cw_product_id] > 1:
            message = f"catalog item {want.cw_product_id} is mapped to several vendor products"
            want = replace(want, blocked=Blocked("error", message, SHARED_PRODUCT_ADVICE))
        changes.append(plan_item(want, active))
    return changes


def differs_from_preview(change: Change, previewed: Change | None) -> bool:
    """True when Apply must re-plan this item: ConnectWise or the counts moved since the preview."""
    if previewed is None:
        return change.is_write
    return not change.same_plan(previewed)

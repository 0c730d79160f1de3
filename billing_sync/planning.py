"""Pure planning: month-end counts + mappings + current additions -> what must change."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from billing_sync.connectwise.records import Addition

TOLERANCE = 1e-6  # CW stores quantity as a double; we only ever send whole numbers


@dataclass(frozen=True)
class Wanted:
    """One mapped (company, product) on an agreement and the quantity it must carry."""

    company_id: int
    product_id: int
    cw_product_id: int
    quantity: int
    linked_addition_id: int | None = None


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


AMBIGUOUS_ADVICE = (
    "Several active additions on this agreement carry the product; cancel the extra ones in "
    "ConnectWise (or set their cancelled date) so exactly one remains, then sync again."
)
SHARED_PRODUCT_ADVICE = (
    "Two vendor products are mapped to the same ConnectWise catalog item; map each vendor "
    "product to its own catalog item."
)


def managed_addition(want: Wanted, active: list[Addition]) -> tuple[Addition | None, list[int]]:
    """The addition to manage: the linked one if active, else the lone one with the product."""
    for addition in active:
        if addition.id == want.linked_addition_id and addition.product_id == want.cw_product_id:
            return addition, []
    carrying = [a for a in active if a.product_id == want.cw_product_id]
    if len(carrying) == 1:
        return carrying[0], []
    return None, sorted(a.id for a in carrying)


def plan_item(want: Wanted, active: list[Addition]) -> Change:
    """Decide one item; quantities are absolute, so the same inputs always give the same change."""
    base = {
        "company_id": want.company_id,
        "product_id": want.product_id,
        "cw_product_id": want.cw_product_id,
        "quantity_after": want.quantity,
    }
    addition, ambiguous = managed_addition(want, active)
    if ambiguous:
        ids = ", ".join(str(i) for i in ambiguous)
        return Change(
            action="error",
            error=f"ambiguous additions: {ids} all carry product {want.cw_product_id}",
            advice=AMBIGUOUS_ADVICE,
            **base,
        )
    if addition is None:
        if want.quantity == 0:
            return Change(action="skipped", error=None, **base)
        return Change(action="create", **base)
    adopted = addition.id != want.linked_addition_id
    action = "unchanged" if abs(addition.quantity - want.quantity) < TOLERANCE else "update"
    return Change(
        action=action,
        addition_id=addition.id,
        quantity_before=addition.quantity,
        adopted=adopted,
        **base,
    )


def plan_agreement(wants: Iterable[Wanted], active: list[Addition]) -> list[Change]:
    """Decide every item of one agreement; a catalog item claimed twice fails both claims."""
    wants = list(wants)
    claims = Counter(w.cw_product_id for w in wants)
    changes = []
    for want in wants:
        if claims[want.cw_product_id] > 1:
            changes.append(
                Change(
                    want.company_id,
                    want.product_id,
                    want.cw_product_id,
                    "error",
                    want.quantity,
                    error=f"catalog item {want.cw_product_id} is mapped to several vendor products",
                    advice=SHARED_PRODUCT_ADVICE,
                )
            )
        else:
            changes.append(plan_item(want, active))
    return changes

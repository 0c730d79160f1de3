"""Hold thresholds and the drift policy in force for a partner and each of its companies."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_sync.models import GuardRule

DRIFT_POLICIES = ("overwrite", "hold", "adopt")


@dataclass(frozen=True)
class HoldRules:
    """When a planned write is held for a person instead of being sent.

    A rise is held when it is more than `rise_percent` % AND more than `rise_users` users (from
    nothing, any rise counts as more than every percentage); a fall likewise; `hold_zero` holds
    a write that takes a non-zero quantity to 0. A partner's first real run holds every write
    when its writes together move more than `first_run_total` users.
    """

    rise_percent: float = 50.0
    rise_users: int = 10
    fall_percent: float = 25.0
    fall_users: int = 5
    hold_zero: bool = True
    first_run_total: int = 1000
    drift_policy: str = "overwrite"  # overwrite | hold | adopt


DEFAULT_RULES = HoldRules()
COMPANY_FIELDS = ("rise_percent", "rise_users", "fall_percent", "fall_users", "hold_zero")


@dataclass(frozen=True)
class PartnerRules:
    """A partner's rules and the companies that override some of them."""

    partner: HoldRules
    companies: dict[int, HoldRules]

    def for_company(self, company_id: int) -> HoldRules:
        """The rules one company's items are judged by."""
        return self.companies.get(company_id, self.partner)


def _overlay(base: HoldRules, row: GuardRule, names: tuple[str, ...]) -> HoldRules:
    """`base` with every field the row sets (a NULL column keeps the base value)."""
    values = {n: getattr(row, n) for n in names if getattr(row, n) is not None}
    return replace(base, **values)


def rules_for(session: Session, partner_id: int) -> PartnerRules:
    """The partner's rules (defaults where unset) and its companies' overrides, in one query."""
    rows = session.scalars(select(GuardRule).where(GuardRule.partner_id == partner_id)).all()
    partner = DEFAULT_RULES
    for row in rows:
        if row.company_id is None:
            partner = _overlay(partner, row, tuple(f.name for f in fields(HoldRules)))
    companies = {
        row.company_id: _overlay(partner, row, COMPANY_FIELDS)
        for row in rows
        if row.company_id is not None
    }
    return PartnerRules(partner, companies)

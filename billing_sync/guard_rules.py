"""Hold thresholds and the drift policy in force for a partner and each of its companies."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_sync.errors import InvalidInput, NotFoundError
from billing_sync.models import Company, GuardRule

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


PERCENTS = ("rise_percent", "fall_percent")
USERS = ("rise_users", "fall_users", "first_run_total")
MAX_PERCENT, MAX_USERS = 100_000.0, 10_000_000


def _checked(name: str, value):
    """One rule value as stored, or InvalidInput naming the rule (None clears it)."""
    if value is None:
        return None
    if name in PERCENTS:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise InvalidInput(f"{name} must be a number")
        if not 0 <= value <= MAX_PERCENT:
            raise InvalidInput(f"{name} must be between 0 and {MAX_PERCENT:g}")
        return float(value)
    if name in USERS:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInput(f"{name} must be a whole number")
        if not 0 <= value <= MAX_USERS:
            raise InvalidInput(f"{name} must be between 0 and {MAX_USERS}")
        return value
    if name == "hold_zero":
        if not isinstance(value, bool):
            raise InvalidInput("hold_zero must be true or false")
        return value
    if value not in DRIFT_POLICIES:
        raise InvalidInput(f"drift_policy must be one of {', '.join(DRIFT_POLICIES)}")
    return value


def save_rules(
    session: Session, partner_id: int, company_id: int | None, values: dict, *, now: datetime
) -> GuardRule:
    """Set some rules of a partner (company_id None) or of one of its companies; None unsets one.

    Only the keys given change. A company may override the hold thresholds, not the first-run
    total or the drift policy (those are the partner's). Bad input raises InvalidInput (nothing
    changed); a company of another partner raises NotFoundError.
    """
    allowed = [f.name for f in fields(HoldRules)] if company_id is None else list(COMPANY_FIELDS)
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        whose = "a partner" if company_id is None else "a company"
        raise InvalidInput(f"{', '.join(unknown)} cannot be set for {whose}")
    checked = {name: _checked(name, value) for name, value in values.items()}
    if company_id is not None:
        company = session.get(Company, company_id)
        if company is None or company.partner_id != partner_id:
            raise NotFoundError(f"no company {company_id} for this partner")
    row = session.scalar(
        select(GuardRule).where(
            GuardRule.partner_id == partner_id,
            GuardRule.company_id.is_(None)
            if company_id is None
            else GuardRule.company_id == company_id,
        )
    )
    if row is None:
        row = GuardRule(partner_id=partner_id, company_id=company_id, updated_at=now)
        session.add(row)
    for name, value in checked.items():
        setattr(row, name, value)
    row.updated_at = now
    session.flush()
    return row

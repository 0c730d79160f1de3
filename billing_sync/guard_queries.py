"""Read-side queries for the guardrail pages: holds, decisions, drift, counts, rule overrides."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, distinct, func, or_, select
from sqlalchemy.orm import Session

from billing_sync.guard_rules import COMPANY_FIELDS
from billing_sync.models import (
    Company,
    CompanyMapping,
    Drift,
    GuardRule,
    Hold,
    Product,
    Run,
)

RECENT_DECISIONS = 50
SHOWN_HOLDS = 500  # a page of open holds; more than this means a wrong tenant, not 500 reviews


@dataclass(frozen=True)
class HoldRow:
    """A held write with the names a person recognises."""

    id: int
    run_id: int
    company_id: int
    company_name: str
    external_id: str
    product_code: str
    product_name: str
    agreement_id: int
    agreement_name: str | None
    addition_id: int | None
    quantity_before: float | None
    quantity_after: float
    rule: str
    reason: str
    status: str
    decided_by: str | None
    decided_at: datetime | None
    created_at: datetime
    run_started_at: datetime


@dataclass(frozen=True)
class DriftRow:
    """A hand edit found on a synced addition."""

    id: int
    run_id: int
    company_id: int
    company_name: str
    product_code: str
    agreement_id: int
    addition_id: int
    expected: float
    found: float
    changed_by: str | None
    changed_at: datetime | None
    policy: str
    status: str
    created_at: datetime


@dataclass(frozen=True)
class GuardSummary:
    """What the dashboard makes loud: open holds (and the agreements they sit on), open drift."""

    holds: int
    held_agreements: int
    drifts: int


def _hold_query() -> Select:
    return (
        select(
            Hold.id,
            Hold.run_id,
            Hold.company_id,
            Company.name,
            Company.external_id,
            Product.code,
            Product.name,
            Hold.agreement_id,
            CompanyMapping.agreement_name,
            Hold.addition_id,
            Hold.quantity_before,
            Hold.quantity_after,
            Hold.rule,
            Hold.reason,
            Hold.status,
            Hold.decided_by,
            Hold.decided_at,
            Hold.created_at,
            Run.started_at,
        )
        .select_from(Hold)
        .join(Company, Company.id == Hold.company_id)
        .join(Product, Product.id == Hold.product_id)
        .join(Run, Run.id == Hold.run_id)
        .outerjoin(CompanyMapping, CompanyMapping.company_id == Hold.company_id)
    )


def open_hold_rows(session: Session, partner_id: int, *, limit: int = SHOWN_HOLDS) -> list[HoldRow]:
    """The partner's open holds by company and product, in one query."""
    query = (
        _hold_query()
        .where(Hold.partner_id == partner_id, Hold.status == "open")
        .order_by(func.lower(Company.name), Product.code, Hold.id)
        .limit(limit)
    )
    return [HoldRow(*row) for row in session.execute(query)]


def recent_decisions(
    session: Session, partner_id: int, *, limit: int = RECENT_DECISIONS
) -> list[HoldRow]:
    """The partner's decided holds (approved, rejected, superseded), newest first."""
    query = (
        _hold_query()
        .where(Hold.partner_id == partner_id, Hold.status != "open")
        .order_by(func.coalesce(Hold.decided_at, Hold.created_at).desc(), Hold.id.desc())
        .limit(limit)
    )
    return [HoldRow(*row) for row in session.execute(query)]


def run_holds(session: Session, partner_id: int, run_id: int) -> list[HoldRow]:
    """The holds a run made, whatever became of them since."""
    query = (
        _hold_query()
        .where(Hold.partner_id == partner_id, Hold.run_id == run_id)
        .order_by(func.lower(Company.name), Product.code, Hold.id)
        .limit(SHOWN_HOLDS)
    )
    return [HoldRow(*row) for row in session.execute(query)]


def open_holds_by_company(
    session: Session, partner_id: int, company_ids: list[int]
) -> dict[int, list[HoldRow]]:
    """Open holds of these companies (one query for a whole listing page), per company."""
    if not company_ids:
        return {}
    query = (
        _hold_query()
        .where(
            Hold.partner_id == partner_id,
            Hold.status == "open",
            Hold.company_id.in_(company_ids),
        )
        .order_by(Product.code, Hold.id)
    )
    found: dict[int, list[HoldRow]] = {}
    for row in session.execute(query):
        found.setdefault(row.company_id, []).append(HoldRow(*row))
    return found


def open_hold_count(session: Session, partner_id: int) -> int:
    """How many of the partner's holds wait for a decision (the nav link's figure)."""
    query = select(func.count(Hold.id)).where(Hold.partner_id == partner_id, Hold.status == "open")
    return session.scalar(query) or 0


def guard_summary(session: Session, partner_id: int) -> GuardSummary:
    """Open holds, the agreements they sit on, and open drift: two counting queries."""
    holds, agreements = session.execute(
        select(func.count(Hold.id), func.count(distinct(Hold.agreement_id))).where(
            Hold.partner_id == partner_id, Hold.status == "open"
        )
    ).one()
    drifts = session.scalar(
        select(func.count(Drift.id)).where(Drift.partner_id == partner_id, Drift.status == "open")
    )
    return GuardSummary(holds or 0, agreements or 0, drifts or 0)


def _drift_query() -> Select:
    return (
        select(
            Drift.id,
            Drift.run_id,
            Drift.company_id,
            Company.name,
            Product.code,
            Drift.agreement_id,
            Drift.addition_id,
            Drift.expected,
            Drift.found,
            Drift.changed_by,
            Drift.changed_at,
            Drift.policy,
            Drift.status,
            Drift.created_at,
        )
        .select_from(Drift)
        .join(Company, Company.id == Drift.company_id)
        .join(Product, Product.id == Drift.product_id)
    )


def open_drift_by_company(
    session: Session, partner_id: int, company_ids: list[int]
) -> dict[int, list[DriftRow]]:
    """Open drift of these companies (one query for a whole listing page), per company."""
    if not company_ids:
        return {}
    query = (
        _drift_query()
        .where(
            Drift.partner_id == partner_id,
            Drift.status == "open",
            Drift.company_id.in_(company_ids),
        )
        .order_by(Product.code, Drift.id)
    )
    found: dict[int, list[DriftRow]] = {}
    for row in session.execute(query):
        found.setdefault(row.company_id, []).append(DriftRow(*row))
    return found


def open_drift(session: Session, partner_id: int, *, limit: int = SHOWN_HOLDS) -> list[DriftRow]:
    """The partner's open drift, by company and product."""
    query = (
        _drift_query()
        .where(Drift.partner_id == partner_id, Drift.status == "open")
        .order_by(func.lower(Company.name), Product.code, Drift.id)
        .limit(limit)
    )
    return [DriftRow(*row) for row in session.execute(query)]


def run_drift(session: Session, partner_id: int, run_id: int) -> list[DriftRow]:
    """The hand edits a run found."""
    query = (
        _drift_query()
        .where(Drift.partner_id == partner_id, Drift.run_id == run_id)
        .order_by(func.lower(Company.name), Product.code, Drift.id)
        .limit(SHOWN_HOLDS)
    )
    return [DriftRow(*row) for row in session.execute(query)]


@dataclass(frozen=True)
class OverrideRow:
    """A company whose hold thresholds differ from its partner's."""

    company_id: int
    company_name: str
    external_id: str
    rule: GuardRule


def partner_rule(session: Session, partner_id: int) -> GuardRule | None:
    """The partner's own stored rules row (None: every rule at its default)."""
    query = select(GuardRule).where(
        GuardRule.partner_id == partner_id, GuardRule.company_id.is_(None)
    )
    return session.scalar(query)


def company_rule(session: Session, partner_id: int, company_id: int) -> GuardRule | None:
    """One company's stored override row, if any."""
    query = select(GuardRule).where(
        GuardRule.partner_id == partner_id, GuardRule.company_id == company_id
    )
    return session.scalar(query)


def company_overrides(session: Session, partner_id: int) -> list[OverrideRow]:
    """The companies that override some hold threshold, by name (rows left all blank are not)."""
    set_any = or_(*(getattr(GuardRule, name).is_not(None) for name in COMPANY_FIELDS))
    query = (
        select(Company.id, Company.name, Company.external_id, GuardRule)
        .join(GuardRule, GuardRule.company_id == Company.id)
        .where(GuardRule.partner_id == partner_id, Company.partner_id == partner_id, set_any)
        .order_by(func.lower(Company.name), Company.id)
    )
    return [OverrideRow(*row) for row in session.execute(query)]

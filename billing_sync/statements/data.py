"""Gather a month's statements: one grouped query per section for all companies at once."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session, aliased

from billing_sync.counting import SeatInterval
from billing_sync.errors import NotFoundError
from billing_sync.models import (
    Company,
    CompanyMapping,
    Partner,
    PeriodClose,
    Product,
    Run,
    RunItem,
    Seat,
    Snapshot,
)
from billing_sync.periods import Period
from billing_sync.statements.model import (
    CompanyStatement,
    CountedUser,
    LeftUser,
    Statement,
    UserKey,
    Write,
    counted_since,
    left_during,
)
from billing_sync.sync.undo import LANDED

# A write "sets or confirms" the quantity; skipped, failed and held items put nothing in place.
SETTING_ACTIONS = ("create", "update", "unchanged")
SEAT_ROW = (
    Seat.company_id,
    Seat.product_id,
    Seat.user_external_id,
    Seat.user_email,
    Seat.active_from,
    Seat.active_to,
)


def build_statement(
    session: Session,
    partner_id: int,
    period: Period,
    *,
    now: datetime,
    company_ids: Collection[int] | None = None,
) -> Statement:
    """The month's statements for the partner's companies (all, or those in company_ids)."""
    partner = session.get(Partner, partner_id)
    if partner is None:
        raise NotFoundError(f"no partner {partner_id}")
    zone = ZoneInfo(partner.timezone)
    closed = session.scalars(
        select(PeriodClose).where(
            PeriodClose.partner_id == partner_id, PeriodClose.period == period.first_day
        )
    ).one_or_none()
    # A closed month is read at the boundary it was billed at, as closing.late_changes does.
    boundary = closed.boundary if closed is not None else period.end(partner.timezone)
    scope = _Scope(session, partner_id, company_ids)
    products = scope.product_codes()
    counted = _counted(scope, boundary, products, zone)
    left = _left(scope, period.start(partner.timezone), boundary, products, zone)
    writes = _writes(scope, period, zone)
    billed = _billed(scope, period) if closed is not None else {}
    companies = tuple(
        CompanyStatement(
            company_id=company.id,
            external_id=company.external_id,
            name=company.name,
            cw_company=_label(mapping.cw_company_name, mapping.cw_company_id) if mapping else "",
            agreement=_label(mapping.agreement_name, mapping.agreement_id) if mapping else "",
            counted=tuple(counted.get(company.id, ())),
            left=tuple(left.get(company.id, ())),
            writes=tuple(writes.get(company.id, ())),
            billed=tuple(sorted(billed.get(company.id, {}).items())),
        )
        for company, mapping in scope.companies()
    )
    return Statement(
        partner=partner.name,
        timezone=partner.timezone,
        period=period,
        boundary=boundary.astimezone(zone),
        generated_at=now.astimezone(zone),
        closed=closed is not None,
        companies=companies,
    )


class _Scope:
    """The partner (and optionally some of its companies) every section query is limited to."""

    def __init__(self, session: Session, partner_id: int, company_ids: Collection[int] | None):
        self.session = session
        self.partner_id = partner_id
        self.company_ids = None if company_ids is None else sorted(set(company_ids))

    def only(self, column) -> list[ColumnElement[bool]]:
        """The company filter for `column`, when a subset was asked for."""
        return [] if self.company_ids is None else [column.in_(self.company_ids)]

    def companies(self) -> list[tuple[Company, CompanyMapping | None]]:
        query = (
            select(Company, CompanyMapping)
            .outerjoin(CompanyMapping, CompanyMapping.company_id == Company.id)
            .where(Company.partner_id == self.partner_id, *self.only(Company.id))
            .order_by(Company.external_id)
        )
        return [(company, mapping) for company, mapping in self.session.execute(query)]

    def product_codes(self) -> dict[int, str]:
        return dict(self.session.execute(select(Product.id, Product.code)).all())


def _label(name: str | None, ident: int | None) -> str:
    if ident is None:
        return ""
    return f"{name} (#{ident})" if name else f"#{ident}"


def _intervals(rows) -> tuple[list[SeatInterval], dict[UserKey, tuple[datetime, str]]]:
    """Seat rows as intervals, and each user's newest e-mail (from their latest seat)."""
    seats, emails = [], {}
    for company, product, user, email, active_from, active_to in rows:
        seats.append(SeatInterval(company, product, user, active_from, active_to))
        key = (company, product, user)
        if key not in emails or emails[key][0] < active_from:
            emails[key] = (active_from, email or "")
    return seats, emails


def _counted(scope: _Scope, boundary: datetime, products: dict[int, str], zone: ZoneInfo):
    """Users held at B, with every earlier seat of theirs (to find where their run began)."""
    held = aliased(Seat)
    held_at_b = (
        select(held.id)
        .where(
            held.company_id == Seat.company_id,
            held.product_id == Seat.product_id,
            held.user_external_id == Seat.user_external_id,
            held.active_from < boundary,
            or_(held.active_to.is_(None), held.active_to >= boundary),
        )
        .exists()
    )
    query = select(*SEAT_ROW).where(
        Seat.partner_id == scope.partner_id,
        Seat.active_from < boundary,
        held_at_b,
        *scope.only(Seat.company_id),
    )
    seats, emails = _intervals(scope.session.execute(query))
    found: dict[int, list[CountedUser]] = defaultdict(list)
    for (company, product, user), since in sorted(counted_since(seats, boundary).items()):
        found[company].append(
            CountedUser(
                user, emails[(company, product, user)][1], products[product], since.astimezone(zone)
            )
        )
    return _sorted(found, lambda u: (u.product, u.user_id))


def _left(scope: _Scope, start: datetime, boundary: datetime, products, zone: ZoneInfo):
    """Seats that ended in [start, B), and the seats across B of the same users (to drop them)."""
    query = select(*SEAT_ROW).where(
        Seat.partner_id == scope.partner_id,
        Seat.active_from < boundary,
        or_(Seat.active_to.is_(None), Seat.active_to >= start),
        *scope.only(Seat.company_id),
    )
    seats, emails = _intervals(scope.session.execute(query))
    found: dict[int, list[LeftUser]] = defaultdict(list)
    for (company, product, user), seat in left_during(seats, start, boundary).items():
        found[company].append(
            LeftUser(
                user,
                emails[(company, product, user)][1],
                products[product],
                seat.active_from.astimezone(zone),
                seat.active_to.astimezone(zone),
            )
        )
    return _sorted(found, lambda u: (u.product, u.left_at, u.user_id))


def _writes(scope: _Scope, period: Period, zone: ZoneInfo) -> dict[int, list[Write]]:
    """Ledger entries of real runs for the month that set or confirmed a quantity."""
    query = (
        select(
            RunItem.company_id,
            Run.id,
            Run.started_at,
            Run.trigger,
            Product.code,
            RunItem.agreement_id,
            RunItem.addition_id,
            RunItem.action,
            RunItem.quantity_before,
            RunItem.quantity_after,
            RunItem.state,
        )
        .join(Run, Run.id == RunItem.run_id)
        .outerjoin(Product, Product.id == RunItem.product_id)
        .where(
            Run.partner_id == scope.partner_id,
            RunItem.partner_id == scope.partner_id,
            Run.dry_run.is_(False),
            Run.period == period.first_day,
            RunItem.state.in_(LANDED),
            RunItem.action.in_(SETTING_ACTIONS),
            RunItem.company_id.is_not(None),
            *scope.only(RunItem.company_id),
        )
        .order_by(Run.started_at, Run.id, RunItem.id)
    )
    found: dict[int, list[Write]] = defaultdict(list)
    for company, run_id, started, trigger, code, *rest in scope.session.execute(query):
        found[company].append(Write(run_id, started.astimezone(zone), trigger, code or "", *rest))
    return found


def _billed(scope: _Scope, period: Period) -> dict[int, dict[str, int]]:
    """The frozen month-end quantities per company and product code."""
    query = (
        select(Snapshot.company_id, Product.code, Snapshot.quantity)
        .join(Product, Product.id == Snapshot.product_id)
        .where(
            Snapshot.partner_id == scope.partner_id,
            Snapshot.period == period.first_day,
            *scope.only(Snapshot.company_id),
        )
    )
    found: dict[int, dict[str, int]] = defaultdict(dict)
    for company, code, quantity in scope.session.execute(query):
        found[company][code] = quantity
    return found


def _sorted(found: dict[int, list], key) -> dict[int, list]:
    return {company: sorted(rows, key=key) for company, rows in found.items()}

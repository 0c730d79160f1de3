"""Gather what a run needs from the database: targets, products, links and counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing_sync import closing, counting
from billing_sync.models import AdditionLink, Company, CompanyMapping, Partner, ProductMapping, Seat
from billing_sync.periods import Period, latest_closed_period
from billing_sync.sync.ledger import Link


@dataclass(frozen=True)
class Target:
    """A mapped vendor company and the agreement its additions live on."""

    company_id: int
    external_id: str
    name: str
    cw_company_id: int
    agreement_id: int


@dataclass(frozen=True)
class MappedProduct:
    """A vendor product the partner pushes, and the catalog item it is billed as."""

    product_id: int
    code: str
    name: str
    cw_product_id: int


@dataclass
class RunContext:
    """Everything gathered before talking to ConnectWise."""

    partner_id: int
    timezone: str
    basis: str
    period: Period | None
    targets: list[Target]
    products: list[MappedProduct]
    links: dict[tuple[int, int], Link]
    counts: dict[tuple[int, int], int]
    warnings: list[str] = field(default_factory=list)


def _targets(session: Session, partner_id: int) -> list[Target]:
    rows = session.execute(
        select(
            Company.id,
            Company.external_id,
            Company.name,
            CompanyMapping.cw_company_id,
            CompanyMapping.agreement_id,
        )
        .join(CompanyMapping, CompanyMapping.company_id == Company.id)
        .where(
            Company.partner_id == partner_id,
            CompanyMapping.status == "mapped",
            CompanyMapping.agreement_id.is_not(None),
        )
        .order_by(Company.name, Company.id)
    )
    return [Target(*row) for row in rows]


def _products(session: Session, partner_id: int) -> list[MappedProduct]:
    mappings = session.scalars(
        select(ProductMapping).where(ProductMapping.partner_id == partner_id)
    )
    return sorted(
        (
            MappedProduct(m.product_id, m.product.code, m.product.name, m.cw_product_id)
            for m in mappings
        ),
        key=lambda p: p.code,
    )


def _links(session: Session, partner_id: int) -> dict[tuple[int, int], Link]:
    rows = session.scalars(select(AdditionLink).where(AdditionLink.partner_id == partner_id))
    return {
        (r.company_id, r.product_id): Link(
            r.company_id, r.product_id, r.agreement_id, r.addition_id, r.last_quantity
        )
        for r in rows
    }


def _unmapped_usage_warnings(
    session: Session, partner_id: int, products: list[MappedProduct], targets: list[Target]
) -> list[str]:
    """Say when seats exist for products or companies that no run will push."""
    warnings = []
    mapped_products = {p.product_id for p in products}
    seat_products = session.scalars(
        select(Seat.product_id).where(Seat.partner_id == partner_id).distinct()
    ).all()
    if missing := sorted(set(seat_products) - mapped_products):
        warnings.append(
            f"{len(missing)} vendor product(s) with seats are not mapped to a "
            "ConnectWise catalog item and are not pushed"
        )
    with_seats = session.scalar(
        select(func.count(func.distinct(Seat.company_id))).where(Seat.partner_id == partner_id)
    )
    excluded_or_unmatched = (with_seats or 0) - len({t.company_id for t in targets})
    if excluded_or_unmatched > 0:
        warnings.append(
            f"{excluded_or_unmatched} company(ies) with seats are unmatched or excluded"
        )
    return warnings


def gather(
    session: Session, partner: Partner, *, now: datetime, freeze: bool, run_id: int | None
) -> RunContext:
    """Read targets and counts; a real month_end run closes the latest finished month first."""
    targets = _targets(session, partner.id)
    products = _products(session, partner.id)
    context = RunContext(
        partner.id,
        partner.timezone,
        partner.count_basis,
        None,
        targets,
        products,
        _links(session, partner.id),
        {},
    )
    if partner.count_basis == "live":
        context.counts = counting.live_counts(session, partner.id, now)
    else:
        period = latest_closed_period(now, partner.timezone)
        context.period = period
        if freeze:
            closing.close_period(
                session, partner.id, period, partner.timezone, now=now, run_id=run_id
            )
        frozen = closing.frozen_counts(session, partner.id, period)
        if frozen is None:  # a preview before the month was closed: count it as it stands
            frozen = counting.month_end_counts(session, partner.id, period.end(partner.timezone))
        else:
            context.warnings.extend(
                closing.late_changes(session, partner.id, period, partner.timezone)
            )
        context.counts = frozen
    context.warnings.extend(_unmapped_usage_warnings(session, partner.id, products, targets))
    return context

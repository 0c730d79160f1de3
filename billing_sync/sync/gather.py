"""Gather what a run needs from the database: targets, products, links and counts."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_sync import closing, counting
from billing_sync.models import (
    AdditionLink,
    Company,
    CompanyMapping,
    Partner,
    ProductMapping,
    RunItem,
    Seat,
)
from billing_sync.periods import Period, latest_closed_period
from billing_sync.planning import Change
from billing_sync.sync.guard_state import GuardState, load_guard
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
    left_out: list[str] = field(default_factory=list)  # companies with seats no run pushes
    # agreement id -> names of the vendor companies mapped onto it, when more than one
    shared_agreements: dict[int, list[str]] = field(default_factory=dict)
    # (company, product) -> the change a preview showed, when this run applies that preview
    previewed: dict[tuple[int, int], Change] | None = None
    guard: GuardState | None = None  # hold rules, holds and drift (guardrails)

    def sharing(self, target: Target) -> list[str]:
        """The other vendor companies mapped onto this target's agreement."""
        names = self.shared_agreements.get(target.agreement_id, [])
        return [n for n in names if n != target.name]


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
            r.company_id, r.product_id, r.agreement_id, r.addition_id, r.last_quantity, r.period
        )
        for r in rows
    }


def mapped_targets(session: Session, partner_id: int) -> list[Target]:
    """The partner's mapped companies with an agreement, by name."""
    return _targets(session, partner_id)


def mapped_products(session: Session, partner_id: int) -> list[MappedProduct]:
    """The partner's vendor products mapped to catalog items, by code."""
    return _products(session, partner_id)


def _unmapped_usage_warnings(
    session: Session, partner_id: int, products: list[MappedProduct]
) -> list[str]:
    """Say when seats exist for products that no run will push."""
    mapped_products = {p.product_id for p in products}
    seat_products = session.scalars(
        select(Seat.product_id).where(Seat.partner_id == partner_id).distinct()
    ).all()
    if missing := sorted(set(seat_products) - mapped_products):
        return [
            f"{len(missing)} vendor product(s) with seats are not mapped to a "
            "ConnectWise catalog item and are not pushed"
        ]
    return []


def _left_out(session: Session, partner_id: int) -> list[str]:
    """Companies with seats that no run pushes, by name, saying why (unmatched or excluded)."""
    with_seats = select(Seat.company_id).where(Seat.partner_id == partner_id).distinct()
    rows = session.execute(
        select(Company.name, CompanyMapping.status, CompanyMapping.agreement_id)
        .outerjoin(CompanyMapping, CompanyMapping.company_id == Company.id)
        .where(Company.partner_id == partner_id, Company.id.in_(with_seats))
        .order_by(Company.name, Company.id)
    )
    return [
        f"{name} ({status or 'unmatched'})"
        for name, status, agreement_id in rows
        if status != "mapped" or agreement_id is None
    ]


def _shared_agreements(targets: list[Target]) -> dict[int, list[str]]:
    by_agreement: dict[int, list[str]] = defaultdict(list)
    for target in targets:
        by_agreement[target.agreement_id].append(target.name)
    return {a: names for a, names in by_agreement.items() if len(names) > 1}


def previewed_changes(session: Session, partner_id: int, preview_run_id: int):
    """The changes a preview showed, by (company, product), to compare an Apply against."""
    items = session.scalars(
        select(RunItem).where(
            RunItem.partner_id == partner_id,
            RunItem.run_id == preview_run_id,
            RunItem.company_id.is_not(None),
        )
    )
    return {
        (i.company_id, i.product_id): Change(
            i.company_id,
            i.product_id,
            0,
            i.action,
            int(i.quantity_after or 0),
            i.addition_id,
            i.quantity_before,
        )
        for i in items
    }


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
    context.warnings.extend(_unmapped_usage_warnings(session, partner.id, products))
    context.left_out = _left_out(session, partner.id)
    if context.left_out:
        shown = ", ".join(context.left_out[:20])
        more = f" and {len(context.left_out) - 20} more" if len(context.left_out) > 20 else ""
        context.warnings.append(
            f"{len(context.left_out)} company(ies) with seats are left out: {shown}{more}"
        )
    context.shared_agreements = _shared_agreements(targets)
    pushed = sum(
        context.counts.get((t.company_id, p.product_id), 0) for t in targets for p in products
    )
    context.guard = load_guard(session, partner.id, pushed)
    for agreement_id, names in sorted(context.shared_agreements.items()):
        context.warnings.append(
            f"agreement {agreement_id} is mapped to several vendor companies "
            f"({', '.join(names)}); nothing is written to it"
        )
    return context

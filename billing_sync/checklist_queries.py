"""The invoice checklist from the database: windows, invoicing agreements, counts, holds, health.

A handful of grouped queries per partner, never one per company: the mappings with their latest
health check, the newest invoice dates runs saw, the counts, the links and the open holds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing_sync import closing, counting
from billing_sync.invoice_checklist import (
    AgreementLine,
    ProductLine,
    Summary,
    Window,
    checklist_days,
    close_matters,
    next_opening,
    open_window,
    summarize,
)
from billing_sync.models import (
    AdditionLink,
    Company,
    CompanyMapping,
    Hold,
    MappingHealth,
    Partner,
    Product,
    ProductMapping,
    Run,
    RunItem,
)
from billing_sync.month_close_status import CLOSE_DONE
from billing_sync.periods import period_containing

#: How far back a run's view of an agreement's nextInvoiceDate still counts (older is stale).
RUN_DATES_MAX_AGE = timedelta(days=45)


@dataclass(frozen=True)
class Checklist:
    """One partner's checklist: its window (None: closed or off) and the agreements in it."""

    days: int
    window: Window | None
    lines: list[AgreementLine] = field(default_factory=list)
    opens_on: date | None = None  # the next window's first day, when none is open
    live: bool = False  # "will write" is the live count (before the boundary, or the live basis)

    @property
    def summary(self) -> Summary:
        return summarize(self.lines)

    def sentence(self) -> str:
        """The headline, e.g. "3 agreements invoice in the next 3 days; ..."."""
        return self.summary.sentence(self.days)


def closes_done(session: Session, boundaries: dict[int, datetime]) -> set[int]:
    """Partners (of `boundaries`: id -> latest boundary) whose month close since then succeeded."""
    if not boundaries:
        return set()
    rows = session.execute(
        select(Run.partner_id, Run.started_at).where(
            Run.trigger == "month_close",
            Run.status.in_(CLOSE_DONE),
            Run.partner_id.in_(boundaries),
            Run.started_at >= min(boundaries.values()),
        )
    )
    return {partner for partner, started in rows if started >= boundaries[partner]}


def _latest_boundary(partner: Partner, now: datetime) -> datetime:
    return period_containing(now, partner.timezone).start(partner.timezone)


def windows(session: Session, partners: list[Partner], now: datetime) -> dict[int, Window]:
    """The open windows of these partners, by partner id (one query for every close)."""
    days = {p.id: checklist_days(p.checklist_days) for p in partners}
    # Only just after a boundary does the close decide; elsewhere the query is not needed.
    pending = [p for p in partners if close_matters(now, p.timezone, days[p.id])]
    done = closes_done(session, {p.id: _latest_boundary(p, now) for p in pending})
    found = {}
    for p in partners:
        window = open_window(now, p.timezone, days[p.id], closed=p.id in done)
        if window is not None:
            found[p.id] = window
    return found


def partner_checklist(session: Session, partner: Partner, now: datetime) -> Checklist:
    """The partner's checklist at `now`: the agreements invoicing in its window, if open."""
    days = checklist_days(partner.checklist_days)
    window = windows(session, [partner], now).get(partner.id)
    if window is None:
        return Checklist(days, None, opens_on=next_opening(now, partner.timezone, days))
    lines = agreement_lines(session, partner, window, now)
    return Checklist(days, window, lines, live=counts_live(partner, window, now))


def open_checklists(session: Session, now: datetime) -> list[tuple[Partner, Checklist]]:
    """Every partner whose window is open at `now`, with its checklist (metrics, alerts)."""
    partners = list(session.scalars(select(Partner).order_by(Partner.name)))
    found = windows(session, partners, now)
    return [
        (p, Checklist(found[p.id].days, found[p.id], agreement_lines(session, p, found[p.id], now)))
        for p in partners
        if p.id in found
    ]


@dataclass(frozen=True)
class _Mapped:
    company_id: int
    company: str
    external_id: str
    agreement_id: int
    agreement: str | None
    next_invoice_date: date | None
    level: str | None
    reasons: str | None


def _mapped(session: Session, partner_id: int) -> list[_Mapped]:
    """Mapped companies with their health check, when it checked the agreement mapped now."""
    rows = session.execute(
        select(
            Company.id,
            Company.name,
            Company.external_id,
            CompanyMapping.agreement_id,
            CompanyMapping.agreement_name,
            MappingHealth.agreement_id,
            MappingHealth.next_invoice_date,
            MappingHealth.level,
            MappingHealth.reasons,
        )
        .join(CompanyMapping, CompanyMapping.company_id == Company.id)
        .outerjoin(MappingHealth, MappingHealth.company_id == Company.id)
        .where(
            Company.partner_id == partner_id,
            CompanyMapping.status == "mapped",
            CompanyMapping.agreement_id.is_not(None),
        )
    )
    found = []
    for cid, name, ext, agreement, agreement_name, checked, invoice, level, reasons in rows:
        if checked is not None and checked != agreement:  # a check of the agreement before
            invoice, level, reasons = None, None, None
        found.append(_Mapped(cid, name, ext, agreement, agreement_name, invoice, level, reasons))
    return found


def run_invoice_dates(session: Session, partner_id: int, now: datetime) -> dict[int, date]:
    """Each agreement's nextInvoiceDate as the newest recent run read it, by agreement id."""
    first_run = session.scalar(
        select(func.min(Run.id)).where(
            Run.partner_id == partner_id, Run.started_at >= now - RUN_DATES_MAX_AGE
        )
    )
    if first_run is None:
        return {}
    newest = (
        select(RunItem.agreement_id, func.max(RunItem.id).label("id"))
        .where(
            RunItem.partner_id == partner_id,
            RunItem.run_id >= first_run,
            RunItem.next_invoice_date.is_not(None),
        )
        .group_by(RunItem.agreement_id)
        .subquery()
    )
    rows = session.execute(
        select(RunItem.agreement_id, RunItem.next_invoice_date).join(
            newest, RunItem.id == newest.c.id
        )
    )
    return dict(rows.all())


def counts_live(partner: Partner, window: Window, now: datetime) -> bool:
    """Whether billing-sync writes the live count: until the boundary, or on the live basis."""
    return partner.count_basis == "live" or now < window.boundary


def will_write(
    session: Session, partner: Partner, window: Window, now: datetime
) -> dict[tuple[int, int], int]:
    """The counts billing-sync writes for the closing month: live until its boundary."""
    if counts_live(partner, window, now):
        return counting.live_counts(session, partner.id, now)
    frozen = closing.frozen_counts(session, partner.id, window.period)
    return (
        frozen
        if frozen is not None
        else counting.month_end_counts(session, partner.id, window.boundary)
    )


def _written(session: Session, partner_id: int) -> dict[tuple[int, int], tuple[int, float | None]]:
    rows = session.execute(
        select(
            AdditionLink.company_id,
            AdditionLink.product_id,
            AdditionLink.agreement_id,
            AdditionLink.last_quantity,
        ).where(AdditionLink.partner_id == partner_id)
    )
    return {(c, p): (a, q) for c, p, a, q in rows}


def _open_holds(session: Session, partner_id: int) -> dict[tuple[int, int], int]:
    rows = session.execute(
        select(Hold.company_id, Hold.product_id, func.count(Hold.id))
        .where(Hold.partner_id == partner_id, Hold.status == "open")
        .group_by(Hold.company_id, Hold.product_id)
    )
    return {(c, p): n for c, p, n in rows}


def _products(session: Session, partner_id: int) -> list[tuple[int, str]]:
    rows = session.execute(
        select(Product.id, Product.code)
        .join(ProductMapping, ProductMapping.product_id == Product.id)
        .where(ProductMapping.partner_id == partner_id)
        .order_by(Product.code)
    )
    return [(product_id, code) for product_id, code in rows]


def first_reason(reasons: str | None) -> str | None:
    """The first (worst) reason's message of a health check's JSON list, if readable."""
    try:
        found = json.loads(reasons or "[]")
        first = found[0] if isinstance(found, list) and found else None
    except ValueError:
        return None
    message = first.get("message") if isinstance(first, dict) else None
    return str(message) if message else None


def agreement_lines(
    session: Session, partner: Partner, window: Window, now: datetime
) -> list[AgreementLine]:
    """The agreements invoicing in the window, soonest first, each with its products."""
    mapped = _mapped(session, partner.id)
    if any(m.next_invoice_date is None for m in mapped):
        from_runs = run_invoice_dates(session, partner.id, now)
        mapped = [
            m
            if m.next_invoice_date is not None
            else replace(m, next_invoice_date=from_runs.get(m.agreement_id))
            for m in mapped
        ]
    invoicing = [m for m in mapped if window.invoices(m.next_invoice_date)]
    if not invoicing:
        return []
    counts, written = will_write(session, partner, window, now), _written(session, partner.id)
    holds, products = _open_holds(session, partner.id), _products(session, partner.id)
    lines = [_line(m, products, counts, written, holds) for m in invoicing]
    return sorted(lines, key=lambda line: (line.next_invoice_date, line.company, line.company_id))


def _line(m: _Mapped, products, counts, written, holds) -> AgreementLine:
    items = []
    for product_id, code in products:
        key = (m.company_id, product_id)
        agreement, quantity = written.get(key, (None, None))
        items.append(
            ProductLine(
                code,
                quantity if agreement == m.agreement_id else None,
                counts.get(key, 0),
                holds.get(key, 0),
            )
        )
    return AgreementLine(
        m.company_id,
        m.company,
        m.external_id,
        m.agreement_id,
        m.agreement,
        m.next_invoice_date,
        tuple(items),
        m.level,
        first_reason(m.reasons),
    )


def totals(checklists: list[tuple[Partner, Checklist]]) -> Summary:
    """The summary summed over partners (the /metrics gauge)."""
    total = Summary()
    for _, checklist in checklists:
        total = total + checklist.summary
    return total

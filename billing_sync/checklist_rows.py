"""The checklist's agreement lines for several partners at once, in grouped queries.

Per set of partners: the mappings with their latest health check, the newest invoice dates runs
saw, the live counts (one query: the live rule needs no zone), the links, the open holds and the
mapped products. Only a partner past its boundary on the month-end basis is counted on its own.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing_sync import closing, counting
from billing_sync.invoice_checklist import AgreementLine, ProductLine, Window
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

#: How far back a run's view of an agreement's nextInvoiceDate still counts (older is stale).
RUN_DATES_MAX_AGE = timedelta(days=45)
Key = tuple[int, int]  # (company_id, product_id)
Windows = dict[int, tuple[Partner, Window]]  # partner id -> the partner and its open window


@dataclass(frozen=True)
class _Mapped:
    partner_id: int
    company_id: int
    company: str
    external_id: str
    agreement_id: int
    agreement: str | None
    next_invoice_date: date | None
    level: str | None
    reasons: str | None


def _mapped(session: Session, ids: list[int]) -> list[_Mapped]:
    """Mapped companies with their health check, when it checked the agreement mapped now."""
    rows = session.execute(
        select(
            Company.partner_id,
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
            Company.partner_id.in_(ids),
            CompanyMapping.status == "mapped",
            CompanyMapping.agreement_id.is_not(None),
        )
    )
    found = []
    for pid, cid, name, ext, agreement, agreement_name, checked, invoice, level, reasons in rows:
        if checked is not None and checked != agreement:  # a check of the agreement before
            invoice, level, reasons = None, None, None
        found.append(
            _Mapped(pid, cid, name, ext, agreement, agreement_name, invoice, level, reasons)
        )
    return found


def run_invoice_dates(session: Session, ids: list[int], now: datetime) -> dict[Key, date]:
    """(partner, agreement) -> nextInvoiceDate as the newest recent run read it."""
    first_run = session.scalar(
        select(func.min(Run.id)).where(
            Run.partner_id.in_(ids), Run.started_at >= now - RUN_DATES_MAX_AGE
        )
    )
    if first_run is None:
        return {}
    newest = (
        select(func.max(RunItem.id).label("id"))
        .where(
            RunItem.partner_id.in_(ids),
            RunItem.run_id >= first_run,  # the recent runs only: ix_run_items_run bounds it
            RunItem.next_invoice_date.is_not(None),
        )
        .group_by(RunItem.partner_id, RunItem.agreement_id)
        .subquery()
    )
    rows = session.execute(
        select(RunItem.partner_id, RunItem.agreement_id, RunItem.next_invoice_date).join(
            newest, RunItem.id == newest.c.id
        )
    )
    return {(partner, agreement): day for partner, agreement, day in rows}


def counts_live(partner: Partner, window: Window, now: datetime) -> bool:
    """Whether billing-sync writes the live count: until the boundary, or on the live basis."""
    return partner.count_basis == "live" or now < window.boundary


def will_write(session: Session, windows: Windows, now: datetime) -> dict[int, dict[Key, int]]:
    """Per partner, the counts billing-sync writes for the closing month: live until B."""
    live = [pid for pid, (p, w) in windows.items() if counts_live(p, w, now)]
    found = counting.live_counts_by_partner(session, live, now) if live else {}
    for pid, (_, window) in windows.items():
        if pid in found:
            continue
        frozen = closing.frozen_counts(session, pid, window.period)
        found[pid] = (
            frozen
            if frozen is not None
            else counting.month_end_counts(session, pid, window.boundary)
        )
    return found


def _written(session: Session, ids: list[int]) -> dict[int, dict[Key, tuple[int, float | None]]]:
    rows = session.execute(
        select(
            AdditionLink.partner_id,
            AdditionLink.company_id,
            AdditionLink.product_id,
            AdditionLink.agreement_id,
            AdditionLink.last_quantity,
        ).where(AdditionLink.partner_id.in_(ids))
    )
    found: dict[int, dict] = defaultdict(dict)
    for pid, company, product, agreement, quantity in rows:
        found[pid][(company, product)] = (agreement, quantity)
    return found


def _open_holds(session: Session, ids: list[int]) -> dict[int, dict[Key, int]]:
    rows = session.execute(
        select(Hold.partner_id, Hold.company_id, Hold.product_id, func.count(Hold.id))
        .where(Hold.partner_id.in_(ids), Hold.status == "open")
        .group_by(Hold.partner_id, Hold.company_id, Hold.product_id)
    )
    found: dict[int, dict] = defaultdict(dict)
    for pid, company, product, n in rows:
        found[pid][(company, product)] = n
    return found


def _products(session: Session, ids: list[int]) -> dict[int, list[tuple[int, str]]]:
    rows = session.execute(
        select(ProductMapping.partner_id, Product.id, Product.code)
        .join(ProductMapping, ProductMapping.product_id == Product.id)
        .where(ProductMapping.partner_id.in_(ids))
        .order_by(Product.code)
    )
    found: dict[int, list] = defaultdict(list)
    for pid, product_id, code in rows:
        found[pid].append((product_id, code))
    return found


def first_reason(reasons: str | None) -> str | None:
    """The first (worst) reason's message of a health check's JSON list, if readable."""
    try:
        found = json.loads(reasons or "[]")
        first = found[0] if isinstance(found, list) and found else None
    except ValueError:
        return None
    message = first.get("message") if isinstance(first, dict) else None
    return str(message) if message else None


def _invoicing(session: Session, windows: Windows, now: datetime) -> list[_Mapped]:
    """The mapped agreements whose next invoice falls in their partner's window."""
    mapped = _mapped(session, list(windows))
    if any(m.next_invoice_date is None for m in mapped):
        undated = sorted({m.partner_id for m in mapped if m.next_invoice_date is None})
        from_runs = run_invoice_dates(session, undated, now)
        mapped = [
            m
            if m.next_invoice_date is not None
            else replace(m, next_invoice_date=from_runs.get((m.partner_id, m.agreement_id)))
            for m in mapped
        ]
    return [m for m in mapped if windows[m.partner_id][1].invoices(m.next_invoice_date)]


def lines_by_partner(
    session: Session, windows: Windows, now: datetime
) -> dict[int, list[AgreementLine]]:
    """Per partner, the agreements invoicing in its window, soonest first, with their products."""
    found: dict[int, list[AgreementLine]] = {pid: [] for pid in windows}
    invoicing = _invoicing(session, windows, now) if windows else []
    if not invoicing:
        return found
    ids = sorted({m.partner_id for m in invoicing})
    counts = will_write(session, {pid: windows[pid] for pid in ids}, now)
    written, holds = _written(session, ids), _open_holds(session, ids)
    products = _products(session, ids)
    for m in invoicing:
        pid = m.partner_id
        found[pid].append(_line(m, products[pid], counts[pid], written[pid], holds[pid]))
    for lines in found.values():
        lines.sort(key=lambda line: (line.next_invoice_date, line.company, line.company_id))
    return found


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

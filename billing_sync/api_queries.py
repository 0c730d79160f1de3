"""Read-side queries behind /api/v1: named counts, companies with their state, stored runs."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing_sync.closing import frozen_counts
from billing_sync.counting import CountKey, live_counts, month_end_counts
from billing_sync.errors import InvalidInput, NotFoundError
from billing_sync.models import Company, CompanyMapping, Partner, Product, Run, RunItem
from billing_sync.page_queries import COMPANY_ROW, CompanyRow, with_sync_status
from billing_sync.periods import Period, require_aware
from billing_sync.sync.report import ItemReport, RunReport
from billing_sync.validation import MAX_ID


@dataclass(frozen=True)
class CountRow:
    """One (company, product) count with the vendor's names for them."""

    company_id: str
    company_name: str
    product: str
    count: int


@dataclass(frozen=True)
class Counts:
    """Counts at one instant: a period's month end (frozen once closed) or a live instant."""

    basis: str  # month_end | live
    at: datetime  # the period's end boundary, or the live instant
    period: Period | None
    frozen: bool
    rows: list[CountRow]


def _partner(session: Session, partner_id: int) -> Partner:
    partner = session.get(Partner, partner_id)
    if partner is None:
        raise NotFoundError(f"no partner with id {partner_id}")
    return partner


def partner_timezone(session: Session, partner_id: int) -> str:
    """The partner's IANA time zone (its billing periods are months there)."""
    return _partner(session, partner_id).timezone


def _named(session: Session, partner_id: int, counts: dict[CountKey, int]) -> list[CountRow]:
    if not counts:
        return []
    companies = {
        id_: (external, name)
        for id_, external, name in session.execute(
            select(Company.id, Company.external_id, Company.name).where(
                Company.partner_id == partner_id,
                Company.id.in_({company for company, _ in counts}),
            )
        )
    }
    products = dict(session.execute(select(Product.id, Product.code)).all())
    rows = [
        CountRow(*companies[company], products[product], count)
        for (company, product), count in counts.items()
        if company in companies
    ]
    return sorted(rows, key=lambda row: (row.company_id, row.product))


def period_counts(session: Session, partner_id: int, period: Period, *, now: datetime) -> Counts:
    """Month-end counts of a closed period: the frozen snapshot once closed, else computed."""
    tz = _partner(session, partner_id).timezone
    boundary = period.end(tz)
    if boundary > require_aware(now, "now"):
        raise InvalidInput(
            f"period {period} has not ended yet (it ends {boundary.isoformat()}); "
            "ask for ?at= to see live counts"
        )
    frozen = frozen_counts(session, partner_id, period)
    counts = frozen if frozen is not None else month_end_counts(session, partner_id, boundary)
    rows = _named(session, partner_id, counts)
    return Counts("month_end", boundary, period, frozen is not None, rows)


def instant_counts(session: Session, partner_id: int, at: datetime) -> Counts:
    """Live counts at an instant: users with active_from <= at < active_to."""
    _partner(session, partner_id)
    rows = _named(session, partner_id, live_counts(session, partner_id, at))
    return Counts("live", at, None, False, rows)


def company_statuses(
    session: Session, partner_id: int, *, after: str | None = None, limit: int = 500
) -> list[CompanyRow]:
    """Companies by external id (after the given one), each with mapping and last sync."""
    query = (
        select(*COMPANY_ROW)
        .select_from(Company)
        .outerjoin(CompanyMapping, CompanyMapping.company_id == Company.id)
        .where(Company.partner_id == partner_id)
        .order_by(Company.external_id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(Company.external_id > after)
    rows = session.execute(query).all()
    return with_sync_status(session, partner_id, rows)


@dataclass(frozen=True)
class StoredRun:
    """A run as recorded: its report (the `sync --json` shape) and when and why it ran."""

    report: RunReport
    dry_run: bool
    trigger: str
    started_at: datetime
    finished_at: datetime | None
    period: date | None


def _items(session: Session, partner_id: int, run_ids: list[int]) -> dict[int, list[ItemReport]]:
    query = (
        select(
            RunItem.run_id,
            Company.external_id,
            Company.name,
            Product.code,
            RunItem.agreement_id,
            RunItem.addition_id,
            RunItem.action,
            RunItem.quantity_before,
            RunItem.quantity_after,
            RunItem.error,
            RunItem.advice,
        )
        .select_from(RunItem)
        .outerjoin(Company, Company.id == RunItem.company_id)
        .outerjoin(Product, Product.id == RunItem.product_id)
        .where(RunItem.partner_id == partner_id, RunItem.run_id.in_(run_ids))
        .order_by(RunItem.run_id, func.lower(Company.name), Product.code, RunItem.id)
    )
    items: dict[int, list[ItemReport]] = defaultdict(list)
    for run_id, external, name, code, *rest in session.execute(query):
        items[run_id].append(ItemReport(external or "", name or "", code or "", *rest))
    return items


def _stored(run: Run, items: list[ItemReport]) -> StoredRun:
    report = RunReport(
        run.id,
        run.status,
        items,
        warnings=json.loads(run.warnings) if run.warnings else [],
        message=run.message,
        left_out=json.loads(run.left_out) if run.left_out else [],
    )
    return StoredRun(report, run.dry_run, run.trigger, run.started_at, run.finished_at, run.period)


def stored_run(session: Session, partner_id: int, run_id: int) -> StoredRun:
    """One of the partner's runs with its items, or NotFoundError (also for another's run)."""
    run = session.get(Run, run_id) if 0 < run_id <= MAX_ID else None  # ids are INTEGER
    if run is None or run.partner_id != partner_id:
        raise NotFoundError(f"no run {run_id}")
    return _stored(run, _items(session, partner_id, [run.id]).get(run.id, []))


def stored_runs(
    session: Session, partner_id: int, *, limit: int = 20, before: int | None = None
) -> list[StoredRun]:
    """The partner's runs newest first (ids below `before`), previews included, with items."""
    query = select(Run).where(Run.partner_id == partner_id).order_by(Run.id.desc()).limit(limit)
    if before is not None and before <= MAX_ID:  # a larger one is above every id: no filter
        query = query.where(Run.id < before)
    runs = list(session.scalars(query))
    items = _items(session, partner_id, [run.id for run in runs]) if runs else {}
    return [_stored(run, items.get(run.id, [])) for run in runs]

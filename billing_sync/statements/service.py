"""What the CLI and pages ask for: a checked month, and a statement file written to a stream."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_sync.errors import InvalidInput, NotFoundError
from billing_sync.models import Company, Run, RunItem
from billing_sync.periods import Period, period_containing
from billing_sync.statements.bundle import (
    FORMATS,
    ZIP_TYPE,
    company_file_name,
    content_type,
    render,
    safe_name,
    write_zip,
)
from billing_sync.statements.data import build_statement

_MONTH = re.compile(r"[0-9]{4}-[0-9]{2}")


@dataclass(frozen=True)
class Export:
    """What was written: its file name and type, how many companies and counted users it holds."""

    filename: str
    content_type: str
    companies: int
    users: int


def statement_month(text: str | None, *, now: datetime, tz: str) -> Period:
    """A YYYY-MM month that has begun in the partner's zone, else InvalidInput."""
    raw = (text or "").strip()
    if not _MONTH.fullmatch(raw):
        raise InvalidInput(f"month {raw[:20]!r} is not of the form YYYY-MM, e.g. 2026-10")
    try:
        period = Period.parse(raw)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    if period.start(tz) > now:
        raise InvalidInput(f"month {period} has not begun yet in {tz}")
    return period


def statement_format(text: str | None) -> str:
    """csv or pdf, else InvalidInput."""
    if text not in FORMATS:
        raise InvalidInput("format must be csv or pdf")
    return text


def company_by_external_id(session: Session, partner_id: int, external_id: str) -> Company:
    """The partner's company with this vendor id, or NotFoundError."""
    query = select(Company).where(
        Company.partner_id == partner_id, Company.external_id == external_id
    )
    company = session.scalars(query).one_or_none()
    if company is None:
        raise NotFoundError(f"no company with external id {external_id[:100]!r}")
    return company


def run_scope(session: Session, partner_id: int, run_id: int) -> tuple[Period, list[int]]:
    """A real run's month and the companies it has ledger entries for; NotFoundError otherwise."""
    run = session.get(Run, run_id)
    if run is None or run.partner_id != partner_id:
        raise NotFoundError(f"no run {run_id}")
    if run.dry_run or run.period is None:
        raise NotFoundError(f"run {run_id} pushed no month-end counts, so it has no statements")
    query = (
        select(RunItem.company_id)
        .where(RunItem.run_id == run.id, RunItem.company_id.is_not(None))
        .distinct()
    )
    return Period.of(run.period), list(session.scalars(query))


@dataclass(frozen=True)
class StatementRequest:
    """Which statements: the partner's month, the format, and optionally some companies."""

    partner_id: int
    period: Period
    fmt: str
    now: datetime
    company_ids: tuple[int, ...] | None = None
    label: str = ""  # names the zip (the partner's name when empty)


def export_company(session: Session, request: StatementRequest, out: BinaryIO) -> Export:
    """Write the statement of the one company in request.company_ids to `out`."""
    statement = _statement(session, request)
    if len(statement.companies) != 1:
        raise NotFoundError(f"no company {request.company_ids}")
    [company] = statement.companies
    out.write(render(statement, company, request.fmt))
    name = company_file_name(company, request.period, request.fmt)
    return Export(name, content_type(request.fmt), 1, len(company.counted))


def export_zip(session: Session, request: StatementRequest, out: BinaryIO) -> Export:
    """Write a zip of the month's statements (all companies, or company_ids) to `out`."""
    statement = _statement(session, request)
    zipped = write_zip(statement, request.fmt, out)
    label = safe_name(request.label or statement.partner)
    name = f"statements-{label}-{request.period}-{request.fmt}.zip"
    return Export(name, ZIP_TYPE, len(zipped), sum(len(c.counted) for c in zipped))


def _statement(session: Session, request: StatementRequest):
    return build_statement(
        session,
        request.partner_id,
        request.period,
        now=request.now,
        company_ids=request.company_ids,
    )


def recent_months(now: datetime, tz: str, count: int = 12) -> list[Period]:
    """The month in progress in `tz` and the `count - 1` before it, newest first."""
    months = [period_containing(now, tz)]
    while len(months) < count:
        months.append(months[-1].previous())
    return months

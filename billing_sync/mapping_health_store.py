"""Mapping health rows: record verdicts (grouped upsert), find refused writes, read for pages."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing_sync.mapping_health import AMBER, GREEN, RED, Verdict
from billing_sync.models import Company, CompanyMapping, MappingHealth, RunItem

WRITES = ("create", "update")
ANSWERED = ("done", "failed", "settled_done", "settled_failed")


def refused_writes(session: Session, partner_id: int) -> set[int]:
    """Companies whose latest answered write was refused with 403 (a missing Edit permission)."""
    latest = (
        select(func.max(RunItem.id))
        .where(
            RunItem.partner_id == partner_id,
            RunItem.company_id.is_not(None),
            RunItem.action.in_(WRITES),
            RunItem.state.in_(ANSWERED),
        )
        .group_by(RunItem.company_id)
    )
    rows = session.scalars(
        select(RunItem.company_id).where(RunItem.id.in_(latest), RunItem.http_status == 403)
    )
    return set(rows)


def record(
    session: Session,
    partner_id: int,
    verdicts: Mapping[int, tuple[int | None, Verdict]],
    *,
    run_id: int | None,
    now: datetime,
) -> None:
    """Upsert one row per company (company id -> (agreement id, verdict)) in grouped writes."""
    if not verdicts:
        return
    ids = sorted(verdicts)
    existing = {
        row.company_id: row
        for row in session.scalars(
            select(MappingHealth).where(
                MappingHealth.partner_id == partner_id, MappingHealth.company_id.in_(ids)
            )
        )
    }
    for company_id in ids:
        agreement_id, verdict = verdicts[company_id]
        row = existing.get(company_id)
        if row is None:
            row = MappingHealth(partner_id=partner_id, company_id=company_id)
            session.add(row)
        _fill(row, agreement_id, verdict, run_id, now)
    session.flush()


def _fill(row: MappingHealth, agreement_id, verdict: Verdict, run_id, now: datetime) -> None:
    facts = verdict.facts
    row.agreement_id = agreement_id
    row.level = verdict.level
    row.reasons = json.dumps([r.to_json() for r in verdict.reasons])
    row.agreement_status = (facts.agreement_status or "")[:32] or None
    row.agreement_type = (facts.agreement_type or "")[:255] or None
    row.billing_cycle = (facts.billing_cycle or "")[:64] or None
    row.bill_start_date = facts.bill_start_date
    row.next_invoice_date = facts.next_invoice_date
    row.prorate_flag = facts.prorate_flag
    row.run_id = run_id
    row.checked_at = now


@dataclass(frozen=True)
class HealthView:
    """A stored verdict as pages and the CLI show it."""

    company_id: int
    agreement_id: int | None
    level: str
    reasons: list[dict[str, str]]
    facts: dict[str, Any]
    run_id: int | None
    checked_at: datetime

    @property
    def first(self) -> str | None:
        """The first (worst) reason's message."""
        return self.reasons[0]["message"] if self.reasons else None

    @property
    def label(self) -> str:
        """Green, Amber or Red."""
        return self.level.capitalize()


def _reasons(text: str | None) -> list[dict[str, str]]:
    try:
        loaded = json.loads(text or "[]")
    except ValueError:
        return []
    return [r for r in loaded if isinstance(r, dict)] if isinstance(loaded, list) else []


def _view(row: MappingHealth) -> HealthView:
    facts = {
        "agreement_status": row.agreement_status,
        "agreement_type": row.agreement_type,
        "billing_cycle": row.billing_cycle,
        "bill_start_date": row.bill_start_date.isoformat() if row.bill_start_date else None,
        "next_invoice_date": row.next_invoice_date.isoformat() if row.next_invoice_date else None,
        "prorate_flag": row.prorate_flag,
    }
    return HealthView(
        row.company_id,
        row.agreement_id,
        row.level,
        _reasons(row.reasons),
        facts,
        row.run_id,
        row.checked_at,
    )


def _current() -> Any:
    """Rows of companies still mapped (a row of an unmapped company is history, not health)."""
    return select(MappingHealth).join(
        CompanyMapping,
        (CompanyMapping.company_id == MappingHealth.company_id)
        & (CompanyMapping.status == "mapped"),
    )


def health_of(
    session: Session, partner_id: int, company_ids: Iterable[int]
) -> dict[int, HealthView]:
    """The stored health of these companies of the partner (one query)."""
    ids = list(company_ids)
    if not ids:
        return {}
    rows = session.scalars(
        _current().where(MappingHealth.partner_id == partner_id, MappingHealth.company_id.in_(ids))
    )
    return {row.company_id: _view(row) for row in rows}


@dataclass(frozen=True)
class HealthSummary:
    """How many mapped companies are green, amber and red, and when last checked."""

    green: int
    amber: int
    red: int
    checked_at: datetime | None

    @property
    def total(self) -> int:
        """Every company with a stored verdict."""
        return self.green + self.amber + self.red


def summary(session: Session, partner_id: int) -> HealthSummary:
    """Counts by level over the partner's mapped companies (one grouped query)."""
    rows = session.execute(
        select(MappingHealth.level, func.count(), func.max(MappingHealth.checked_at))
        .join(Company, Company.id == MappingHealth.company_id)
        .join(
            CompanyMapping,
            (CompanyMapping.company_id == MappingHealth.company_id)
            & (CompanyMapping.status == "mapped"),
        )
        .where(MappingHealth.partner_id == partner_id, Company.partner_id == partner_id)
        .group_by(MappingHealth.level)
    ).all()
    counts = {level: count for level, count, _ in rows}
    checked = max((at for _, _, at in rows if at is not None), default=None)
    return HealthSummary(counts.get(GREEN, 0), counts.get(AMBER, 0), counts.get(RED, 0), checked)


LEVELS = (GREEN, AMBER, RED)

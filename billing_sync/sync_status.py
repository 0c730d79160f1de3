"""What the latest real runs say about each company: its last sync, its problems, a failed run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing_sync.models import Product, Run, RunItem
from billing_sync.sync.handle import OPEN_STATUSES, PICKED_TRIGGERS

# A run that ended like this may have reached no company at all: the company's older outcome
# must not read as the current one.
WHOLE_RUN_FAILURES = ("failed", "refused", "interrupted")


@dataclass(frozen=True)
class ItemProblem:
    """One item's error in a company's latest run, named by its vendor product."""

    product: str | None  # the vendor product's name; None for a problem of the whole agreement
    error: str
    advice: str | None


@dataclass(frozen=True)
class RunFailure:
    """The partner's latest finished real run, which ended without reaching some companies."""

    run_id: int
    status: str  # failed | refused | interrupted
    message: str | None
    started_at: datetime


def latest_finished_run(session: Session, partner_id: int) -> Run | None:
    """The partner's newest real sync that has ended (not a rollback or orphan run)."""
    return session.scalar(
        select(Run)
        .where(
            Run.partner_id == partner_id,
            Run.dry_run.is_(False),
            Run.trigger.not_in(PICKED_TRIGGERS),
            Run.status.not_in(OPEN_STATUSES),
        )
        .order_by(Run.started_at.desc(), Run.id.desc())
        .limit(1)
    )


def whole_run_failure(run: Run | None) -> RunFailure | None:
    """The run as a failure to report on companies it did not reach, or None when it ran."""
    if run is None or run.status not in WHOLE_RUN_FAILURES:
        return None
    return RunFailure(run.id, run.status, run.message, run.started_at)


def last_sync_outcomes(
    session: Session, partner_id: int, company_ids: list[int]
) -> dict[int, tuple[datetime, int, list[ItemProblem]]]:
    """Per company: when the latest real run touched it, that run's id, and its errors there."""
    if not company_ids:
        return {}
    latest_query = (
        select(RunItem.company_id, func.max(RunItem.run_id))
        .join(Run, Run.id == RunItem.run_id)
        .where(
            RunItem.partner_id == partner_id,
            RunItem.company_id.in_(company_ids),
            Run.dry_run.is_(False),
            Run.trigger.not_in(PICKED_TRIGGERS),
        )
        .group_by(RunItem.company_id)
    )
    latest = {company_id: run_id for company_id, run_id in session.execute(latest_query)}
    if not latest:
        return {}
    # Two steps, because joining the grouped subquery back makes SQLite scan the whole ledger;
    # fetching by run id uses the run index and touches only the few runs that matter.
    query = (
        select(
            RunItem.company_id,
            RunItem.run_id,
            Run.started_at,
            Product.name,
            RunItem.action,
            RunItem.error,
            RunItem.advice,
        )
        .join(Run, Run.id == RunItem.run_id)
        .outerjoin(Product, Product.id == RunItem.product_id)
        .where(RunItem.run_id.in_(set(latest.values())), RunItem.company_id.in_(list(latest)))
        .order_by(RunItem.id)
    )
    outcomes: dict[int, tuple[datetime, int, list[ItemProblem]]] = {}
    for company_id, run_id, started_at, product, action, error, advice in session.execute(query):
        if latest[company_id] != run_id:
            continue
        _, _, problems = outcomes.setdefault(company_id, (started_at, run_id, []))
        if action == "error" or error:
            problems.append(ItemProblem(product, error or action, advice))
    return outcomes

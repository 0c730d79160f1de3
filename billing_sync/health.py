"""What an operator watches: readiness of the database and Redis, and gauges read at scrape time."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from billing_sync.checklist_queries import open_checklists, totals
from billing_sync.hold_counts import held_agreements
from billing_sync.models import Run, RunItem
from billing_sync.month_close_status import PENDING, STATES, month_close_statuses, state_counts
from billing_sync.queue.client import RunQueue
from billing_sync.sync.handle import OPEN_STATUSES
from billing_sync.sync.ledger import OPEN

log = logging.getLogger(__name__)


def readiness(factory: sessionmaker[Session], queue: RunQueue | None) -> dict[str, str]:
    """ "ok" or the reason, per dependency (the database; Redis when configured); no secrets."""
    checks = {}
    try:
        with factory() as session:
            session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except SQLAlchemyError as exc:
        checks["database"] = f"database unreachable: {type(exc.orig or exc).__name__}"
    if queue is not None:
        checks["redis"] = queue.reachable() or "ok"
    return checks


def database_gauges(session: Session, now: datetime, stuck_after: timedelta) -> Iterator[Metric]:
    """Open write intents, runs queued or running, agreements held, month closes, checklists."""
    intents = session.scalar(select(func.count(RunItem.id)).where(RunItem.state == OPEN))
    yield GaugeMetricFamily(
        "billing_sync_open_intents", "Writes sent or about to be whose outcome is unknown", intents
    )
    runs = GaugeMetricFamily(
        "billing_sync_runs_open", "Runs not ended yet, by status", labels=["status"]
    )
    counts = dict(
        session.execute(
            select(Run.status, func.count(Run.id))
            .where(Run.status.in_(OPEN_STATUSES))
            .group_by(Run.status)
        ).all()
    )
    for status in OPEN_STATUSES:
        runs.add_metric([status], counts.get(status, 0))
    yield runs
    yield GaugeMetricFamily(
        "billing_sync_agreements_held",
        "Agreements with an open held change: they invoice without it unless it is approved",
        held_agreements(session),
    )
    closes = state_counts(month_close_statuses(session, now, stuck_after=stuck_after))
    yield GaugeMetricFamily(
        "billing_sync_month_close_pending",
        "Partners whose month close has not succeeded yet (due, queued, running, failing, stuck)",
        sum(closes[state] for state in PENDING),
    )
    by_state = GaugeMetricFamily(
        "billing_sync_month_close_partners",
        "Partners by where the close of their latest closed month stands",
        labels=["state"],
    )
    for state in STATES:
        by_state.add_metric([state], closes[state])
    yield by_state
    yield checklist_gauge(session, now)


def checklist_gauge(session: Session, now: datetime) -> Metric:
    """Agreements invoicing inside partners' checklist windows: all, unwritten, held, red."""
    summary = totals(open_checklists(session, now))
    gauge = GaugeMetricFamily(
        "billing_sync_invoice_checklist_agreements",
        "Agreements invoicing within their partner's checklist window, by what is wrong",
        labels=["state"],
    )
    for state, value in (
        ("invoicing", summary.invoicing),
        ("unwritten", summary.unwritten),
        ("held", summary.held),
        ("red", summary.red),
    ):
        gauge.add_metric([state], value)
    return gauge


def queue_gauges(queue: RunQueue, now: datetime) -> Iterator[Metric]:
    """Depth, oldest waiting job and failed jobs per queue; workers alive."""
    depth = GaugeMetricFamily("billing_sync_queue_jobs", "Jobs waiting", labels=["queue"])
    age = GaugeMetricFamily(
        "billing_sync_queue_oldest_job_age_seconds",
        "How long the oldest waiting job has waited",
        labels=["queue"],
    )
    failed = GaugeMetricFamily(
        "billing_sync_queue_failed_jobs", "Jobs in RQ's failed registry", labels=["queue"]
    )
    for stats in queue.stats(now):
        depth.add_metric([stats.name], stats.depth)
        age.add_metric([stats.name], stats.oldest_age_seconds)
        failed.add_metric([stats.name], stats.failed)
    yield from (depth, age, failed)
    yield GaugeMetricFamily("billing_sync_workers", "Workers alive", queue.workers())


def gauges(
    factory: sessionmaker[Session], queue: RunQueue | None, now: datetime, stuck_after: timedelta
) -> list[Metric]:
    """Every scrape-time gauge; a source that is down is left out (readyz says why)."""
    found: list[Metric] = []
    try:
        with factory() as session:
            found.extend(database_gauges(session, now, stuck_after))
    except SQLAlchemyError:
        log.warning("metrics: the database did not answer", exc_info=True)
    if queue is not None:
        try:
            found.extend(queue_gauges(queue, now))
        except Exception:  # noqa: BLE001 - a scrape must answer while Redis is down
            log.warning("metrics: Redis did not answer", exc_info=True)
    return found

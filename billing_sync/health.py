"""What an operator watches: readiness of the database and Redis, and gauges read at scrape time."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date, datetime

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from billing_sync.models import Partner, Run, RunItem, Schedule
from billing_sync.periods import Period
from billing_sync.queue.client import RunQueue
from billing_sync.scheduler import due
from billing_sync.sync.handle import OPEN_STATUSES
from billing_sync.sync.ledger import OPEN

log = logging.getLogger(__name__)
#: A month close is done once a month-close run since the boundary ended one of these.
CLOSE_DONE = ("succeeded", "partial")


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


def month_closes_pending(session: Session, now: datetime, close_at: str) -> list[int]:
    """Enabled partners whose due month close has not ended succeeded or partial yet."""
    rows = session.execute(
        select(Schedule.partner_id, Partner.timezone, Schedule)
        .join(Partner, Partner.id == Schedule.partner_id)
        .where(Partner.integration_enabled.is_(True))
    ).all()
    pending = []
    for partner_id, tz, schedule in rows:
        if schedule.next_month_close_at is not None and schedule.next_month_close_at <= now:
            pending.append(partner_id)  # due (or put back) and not taken yet
        elif schedule.last_month_close_period is not None and not _closed(
            session, partner_id, schedule.last_month_close_period, tz
        ):
            pending.append(partner_id)  # taken, but no run has completed it
    return pending


def _closed(session: Session, partner_id: int, period: date, tz: str) -> bool:
    boundary = Period.of(period).end(tz)
    return bool(
        session.scalar(
            select(func.count(Run.id)).where(
                Run.partner_id == partner_id,
                Run.trigger == "month_close",
                Run.started_at >= boundary,
                Run.status.in_(CLOSE_DONE),
            )
        )
    )


def database_gauges(session: Session, now: datetime, close_at: str) -> Iterator[Metric]:
    """Open write intents, runs queued or running, month closes not done."""
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
    due.parse_at(close_at)  # a bad setting fails loudly here, not as a silent zero
    yield GaugeMetricFamily(
        "billing_sync_month_close_pending",
        "Partners whose due month close has not succeeded yet",
        len(month_closes_pending(session, now, close_at)),
    )


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
    factory: sessionmaker[Session], queue: RunQueue | None, now: datetime, close_at: str
) -> list[Metric]:
    """Every scrape-time gauge; a source that is down is left out (readyz says why)."""
    found: list[Metric] = []
    try:
        with factory() as session:
            found.extend(database_gauges(session, now, close_at))
    except SQLAlchemyError:
        log.warning("metrics: the database did not answer", exc_info=True)
    if queue is not None:
        try:
            found.extend(queue_gauges(queue, now))
        except Exception:  # noqa: BLE001 - a scrape must answer while Redis is down
            log.warning("metrics: Redis did not answer", exc_info=True)
    return found

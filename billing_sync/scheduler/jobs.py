"""What the scheduler does with a due slot: run the sync, check credentials, raise alerts."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from billing_sync.errors import NotFoundError, RunInProgress
from billing_sync.hold_counts import hold_alert
from billing_sync.launch import AlreadyQueued, Queued, start_run
from billing_sync.partner_connection import authenticate
from billing_sync.queue.client import SCHEDULED, DuplicateJobError, QueueUnavailable, RunQueue
from billing_sync.scheduler import slots
from billing_sync.scheduler.alerts import Alert, deliver
from billing_sync.scheduler.service import get_alerts
from billing_sync.settings import Settings
from billing_sync.sync import run_sync

log = logging.getLogger(__name__)

Factory = sessionmaker[Session]
#: run_sync's signature: (factory, settings, partner_id, *, now, trigger, stop) -> RunReport
RunFn = Callable[..., Any]
#: (factory, settings, partner_id, now) -> None; raises when the credentials do not work
CheckFn = Callable[[Factory, Settings, int, datetime], None]
ALERT_STATUSES = ("failed", "partial")


def check_credentials(factory: Factory, settings: Settings, partner_id: int, now: datetime) -> None:
    """Call /system/info for the partner; the outcome is stored on the connection either way."""
    with factory() as session:
        try:
            authenticate(session, settings, partner_id, now=now)
        finally:
            session.commit()


@dataclass(frozen=True)
class Jobs:
    """The work the loop triggers; tests pass fakes.

    With a queue (BILLING_SYNC_REDIS_URL set) the loop only enqueues: runs and checks are jobs
    for `billing-sync worker` processes, under ids derived from partner and slot.
    """

    run: RunFn = run_sync
    check: CheckFn = check_credentials
    queue: RunQueue | None = None


def job_id(kind: str, partner_id: int, slot_at: datetime) -> str:
    """The id of one slot's job: the same partner and slot always give the same id."""
    return f"{kind}-{partner_id}-{slot_at.astimezone(UTC):%Y%m%dT%H%M%S%fZ}"


def alert(
    factory: Factory,
    settings: Settings,
    slot: slots.DueSchedule,
    kind: str,
    subject: str,
    message: str,
    *,
    now: datetime,
    run_id: int | None = None,
) -> None:
    """Deliver an alert to the partner's configured channels (never raises)."""
    try:
        with factory() as session:
            targets = get_alerts(session, slot.partner_id)
        if targets is None or not (targets.email_to or targets.webhook_url):
            log.info("partner %s: %s, no alert channel configured", slot.partner, subject)
            return
        deliver(
            settings,
            targets.email_to,
            targets.webhook_url,
            Alert(
                partner=slot.partner,
                kind=kind,
                subject=subject,
                message=message,
                at=now,
                run_id=run_id,
            ),
        )
    except Exception:  # noqa: BLE001 - an alert must never break the loop
        log.exception("partner %s: alert %s not delivered", slot.partner, kind)


def run(
    factory: Factory,
    settings: Settings,
    slot: slots.DueSchedule,
    trigger: str,
    *,
    now: datetime,
    jobs: Jobs,
    stop: threading.Event,
) -> str:
    """Run one sync; returns its status, "in_progress" when the lease is held, or "error".

    With a queue the run is only begun and enqueued ("queued"); the worker that carries it out
    alerts, and the month close learns its outcome from the run row (see outcome.py).
    """
    if jobs.queue is not None:
        return enqueue(factory, settings, slot, trigger, now=now, queue=jobs.queue)
    try:
        report = jobs.run(factory, settings, slot.partner_id, now=now, trigger=trigger, stop=stop)
    except RunInProgress:
        log.info(
            "partner %s: %s run not started, another run holds the lease", slot.partner, trigger
        )
        return "in_progress"
    except Exception as exc:  # noqa: BLE001 - logged and alerted; the loop goes on
        with factory() as session:
            run_id = getattr(exc, "run_id", None) or slots.latest_run_id(
                session, slot.partner_id, now
            )
        log.exception(
            "partner %s (id %s) run %s (%s) raised", slot.partner, slot.partner_id, run_id, trigger
        )
        alert(
            factory,
            settings,
            slot,
            "run_failed",
            f"sync run for {slot.partner} failed",
            f"The {trigger} run stopped with an error: {exc}",
            now=now,
            run_id=run_id,
        )
        return "error"
    log.info("partner %s run %s (%s): %s", slot.partner, report.run_id, trigger, report.status)
    alert_outcome(
        factory, settings, slot, trigger, report.run_id, report.status, report.message, now=now
    )
    return report.status


def alert_outcome(
    factory: Factory,
    settings: Settings,
    slot: slots.DueSchedule,
    trigger: str,
    run_id: int | None,
    status: str,
    message: str | None,
    *,
    now: datetime,
) -> None:
    """Alert when a scheduled run ended failed or partial, or held changes (wherever it ran)."""
    _alert_holds(factory, settings, slot, trigger, run_id, now=now)
    if status in ALERT_STATUSES:
        alert(
            factory,
            settings,
            slot,
            f"run_{status}",
            f"sync run {run_id} for {slot.partner} {status}",
            message or f"The {trigger} run ended {status}; see the run ledger.",
            now=now,
            run_id=run_id,
        )


def _alert_holds(factory, settings, slot, trigger: str, run_id: int | None, *, now) -> None:
    """One alert per run that created holds (so once per new hold), or a month close waiting."""
    if run_id is None:
        return
    try:
        with factory() as session:
            found = hold_alert(session, slot.partner, slot.partner_id, run_id, trigger)
    except Exception:  # noqa: BLE001 - an alert must never break the loop
        log.exception("partner %s: holds of run %s not counted", slot.partner, run_id)
        return
    if found is not None:
        subject, message = found
        alert(factory, settings, slot, "holds", subject, message, now=now, run_id=run_id)


def enqueue(
    factory: Factory, settings: Settings, slot: slots.DueSchedule, trigger: str, *, now, queue
) -> str:
    """Begin the slot's run and queue it for a worker: "queued", "in_progress" or "error"."""
    slot_at = slot.next_month_close_at if trigger == "month_close" else slot.next_run_at
    try:
        started = start_run(
            factory,
            settings,
            Queued(queue),
            slot.partner_id,
            now=now,
            trigger=trigger,
            job_id=job_id(trigger, slot.partner_id, slot_at or now),
            queue=SCHEDULED,
        )
    except RunInProgress:
        log.info(
            "partner %s: %s run not queued, another run holds the lease", slot.partner, trigger
        )
        return "in_progress"
    except AlreadyQueued as exc:
        log.warning("partner %s: %s", slot.partner, exc)
        return "queued"
    except QueueUnavailable as exc:
        log.error("partner %s: %s run not queued: %s", slot.partner, trigger, exc)
        return "error"
    log.info("partner %s: %s run %s queued", slot.partner, trigger, started.run_id)
    return "queued"


def check(
    factory: Factory, settings: Settings, slot: slots.DueSchedule, *, now: datetime, jobs: Jobs
) -> bool:
    """Run the daily credentials check; alert when it fails. True when they work (or none).

    With a queue the check is a job (it talks to ConnectWise); True once it is queued.
    """
    if jobs.queue is not None:
        slot_at = slot.next_credentials_check_at or now
        try:
            jobs.queue.enqueue_check(
                slot.partner_id, job_id=job_id("check", slot.partner_id, slot_at)
            )
        except DuplicateJobError:
            log.warning("partner %s: credentials check queued before", slot.partner)
        except QueueUnavailable as exc:
            log.error("partner %s: credentials check not queued: %s", slot.partner, exc)
            return False
        return True
    try:
        jobs.check(factory, settings, slot.partner_id, now)
    except NotFoundError:
        return True  # no connection saved: nothing to check
    except Exception as exc:  # noqa: BLE001 - any failure means the connection is broken
        advice = getattr(exc, "advice", None)
        message = f"{exc} — {advice}" if advice else str(exc)
        log.warning("partner %s: credentials check failed: %s", slot.partner, message)
        alert(
            factory,
            settings,
            slot,
            "credentials_failed",
            f"ConnectWise credentials check failed for {slot.partner}",
            message,
            now=now,
        )
        return False
    log.info("partner %s: credentials check ok", slot.partner)
    return True

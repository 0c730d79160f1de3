"""What follows a queued run, wherever it ended: alerts, and a month close put back until done.

Exactly one process follows a run up: the worker whose outcome closed the run row, or the
scheduler that closed it because the run can no longer end by itself (its worker died, its job
was lost). Both learn what happened from the Run row alone.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select, update

from billing_sync import metrics
from billing_sync.lease import database_now
from billing_sync.logs import log_context
from billing_sync.models import Run, RunLease
from billing_sync.queue.client import RunQueue
from billing_sync.scheduler import jobs as job
from billing_sync.scheduler import slots
from billing_sync.settings import Settings
from billing_sync.sync.handle import OPEN_STATUSES

log = logging.getLogger(__name__)
FAILED_CLOSE_RETRY = timedelta(minutes=15)
SCHEDULED_TRIGGERS = ("schedule", "month_close")
#: A queued preview whose job Redis no longer has is lost once this old (its job is queued
#: within a moment of the row being written).
LOST_JOB_GRACE = timedelta(minutes=1)
DEAD_RUN = (
    "the worker running it stopped (killed, or its job was lost) and its lease ran out; "
    "the next run settles its writes"
)
LOST_PREVIEW = "its job ended or was lost before the preview finished; preview again"


def after_run(factory: job.Factory, settings: Settings, run_id: int, *, now: datetime) -> None:
    """Alert on a failed or partial scheduled run; put back a month close that did not finish."""
    with factory() as session:
        run = session.get(Run, run_id)
        slot = slots.schedule_for(session, run.partner_id) if run else None
    if run is None or slot is None or run.trigger not in SCHEDULED_TRIGGERS:
        return
    job.alert_outcome(
        factory, settings, slot, run.trigger, run.id, run.status, run.message, now=now
    )
    if run.trigger != "month_close" or run.status not in ("interrupted", "failed", "partial"):
        return
    if run.status != "interrupted" and reopen_for_writes_in_flight(
        factory, settings, slot, run.started_at, now=now
    ):
        return
    if run.status == "partial":
        return  # its failed items are reported and alerted; the next regular run retries them
    # A fresh due instant gives the retry a job id of its own.
    retry_at = now if run.status == "interrupted" else now + FAILED_CLOSE_RETRY
    with factory.begin() as session:
        # run.started_at is when the scheduler claimed the close (begin_run's `now`).
        slots.reopen_month_close(
            session, slot, run.started_at, settings.month_close_at, retry_at=retry_at
        )
    log.info(
        "partner %s: month-close run %s %s; the close is due again at %s",
        slot.partner,
        run.id,
        run.status,
        retry_at.isoformat(),
    )


def reopen_for_writes_in_flight(
    factory: job.Factory,
    settings: Settings,
    slot: slots.DueSchedule,
    claimed_at: datetime,
    *,
    now: datetime,
) -> bool:
    """A partial or failed close that left writes in flight is due again once they can settle.

    Their items were blocked ("may still land") or their outcome is unknown: the retry settles
    them and pushes what they block. An intent that was already ripe and still open (ConnectWise
    refused to show the agreement) puts nothing back, so each write reopens a close at most once.
    """
    with factory() as session:
        left = slots.in_flight_for(session, slot.partner_id)
    if left is None:
        return False
    retry_at = now + left
    with factory.begin() as session:
        slots.reopen_month_close(
            session, slot, claimed_at, settings.month_close_at, retry_at=retry_at
        )
    log.info(
        "partner %s: month close partial with writes in flight; due again at %s",
        slot.partner,
        retry_at.isoformat(),
    )
    return True


def _why_dead(row, db_now: datetime, queue: RunQueue, now: datetime) -> str | None:
    if not row.dry_run:
        # A real run holds its partner's lease from begin_run to its end: no lease, no run.
        held = row.expires_at is not None and row.expires_at > db_now
        taken = row.lease_run_id is not None and row.lease_run_id != row.id
        return DEAD_RUN if not held or taken else None
    ended = queue.job_ended(f"run-{row.id}")  # previews hold no lease: ask RQ
    if ended or (
        ended is None and row.status == "queued" and row.started_at < now - LOST_JOB_GRACE
    ):
        return LOST_PREVIEW
    return None


def reap(factory: job.Factory, settings: Settings, queue: RunQueue, now: datetime) -> list[int]:
    """Close the runs that can no longer end by themselves, follow each up; returns their ids."""
    with factory() as session:
        db_now = database_now(session)
        rows = session.execute(
            select(
                Run.id,
                Run.partner_id,
                Run.dry_run,
                Run.status,
                Run.trigger,
                Run.started_at,
                RunLease.run_id.label("lease_run_id"),
                RunLease.expires_at,
            )
            .outerjoin(RunLease, RunLease.partner_id == Run.partner_id)
            .where(Run.status.in_(OPEN_STATUSES))
        ).all()
    reaped = []
    for row in rows:
        reason = _why_dead(row, db_now, queue, now)
        if reason is None:
            continue
        with factory.begin() as session:
            closed = session.execute(
                update(Run)
                .where(Run.id == row.id, Run.status.in_(OPEN_STATUSES))
                .values(status="interrupted", finished_at=now, message=reason)
            ).rowcount
        if closed:  # this process closed it, so this process follows it up
            with log_context(partner_id=row.partner_id, run_id=row.id):
                log.warning("run %s was %s: %s", row.id, row.status, reason)
                metrics.count_run(row.trigger, "interrupted", {})
                reaped.append(row.id)
                after_run(factory, settings, row.id, now=now)
    return reaped

"""The scheduler loop: `schedule` fires a short tick; persisted state decides what is due."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import schedule
from sqlalchemy.exc import IntegrityError

from billing_sync.db import make_engine, make_session_factory
from billing_sync.logs import log_context
from billing_sync.queue.client import RunQueue
from billing_sync.scheduler import checklist_alert, outcome, slots
from billing_sync.scheduler import jobs as job
from billing_sync.settings import Settings

log = logging.getLogger(__name__)
FAILED_CLOSE_RETRY = timedelta(minutes=15)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The wall clock, aware UTC."""
    return datetime.now(UTC)


def adopt_unscheduled(factory: job.Factory, settings: Settings, now: datetime) -> None:
    """Give connected, enabled partners without a schedule their month close and checks."""
    with factory() as session:
        partners = slots.unscheduled_partners(session)
    for partner in partners:
        try:
            with factory.begin() as session:
                slots.adopt(session, partner, now=now, close_at=settings.month_close_at)
        except IntegrityError:
            pass  # another scheduler adopted it first


def serve(
    factory: job.Factory,
    settings: Settings,
    slot: slots.DueSchedule,
    *,
    clock: Clock,
    jobs: job.Jobs,
    stop: threading.Event,
) -> None:
    """Claim and run whatever is due on one schedule."""
    now = clock()
    with factory.begin() as session:
        closing = slots.claim_month_close(session, slot, now, settings.month_close_at)
        regular = slots.claim_run(session, slot, now)
    # One run covers both: the month-close run pushes what a regular run at that time would.
    trigger = "month_close" if closing else "schedule" if regular else None
    if trigger and not slot.integration_enabled:
        log.info("partner %s: %s run skipped, integration is disabled", slot.partner, trigger)
    elif trigger:
        status = job.run(factory, settings, slot, trigger, now=now, jobs=jobs, stop=stop)
        if closing:
            follow_close(factory, settings, slot, status, claimed_at=now, now=clock())
    if stop.is_set():
        return
    with factory.begin() as session:
        checking = slots.claim_credentials_check(session, slot, now)
    if checking and slot.integration_enabled:
        job.check(factory, settings, slot, now=clock(), jobs=jobs)


def follow_close(
    factory: job.Factory,
    settings: Settings,
    slot: slots.DueSchedule,
    status: str,
    *,
    claimed_at: datetime,
    now: datetime,
) -> None:
    """A month close must complete: put back one that did not, due when it can do better."""
    if status in ("in_progress", "interrupted"):  # the next tick (or the next start)
        with factory.begin() as session:
            slots.reopen_month_close(session, slot, claimed_at, settings.month_close_at)
    elif status in ("partial", "failed", "error"):
        # Writes in flight: due once they can be settled. Else a failed close (ConnectWise
        # down, a bad key) comes back after a pause; a partial one's failures are alerted.
        if outcome.reopen_for_writes_in_flight(factory, settings, slot, claimed_at, now=now):
            return
        if status != "partial":
            with factory.begin() as session:
                slots.reopen_month_close(
                    session,
                    slot,
                    claimed_at,
                    settings.month_close_at,
                    retry_at=claimed_at + FAILED_CLOSE_RETRY,
                )


def tick(
    factory: job.Factory, settings: Settings, *, clock: Clock, jobs: job.Jobs, stop: threading.Event
) -> None:
    """One pass: load due schedules and serve each; one partner's failure never stops the rest.

    With a queue it first closes and follows up runs whose worker died, and claims nothing
    while Redis is away (a claimed slot could not be queued).
    """
    now = clock()
    if jobs.queue is not None:
        problem = jobs.queue.reachable()
        if problem:
            log.warning("scheduler tick skipped: %s", problem)
            return
        outcome.reap(factory, settings, jobs.queue, now)
    adopt_unscheduled(factory, settings, now)
    with factory() as session:
        due = slots.due_schedules(session, now)
    for slot in due:
        if stop.is_set():
            return
        try:
            with log_context(partner_id=slot.partner_id):
                serve(factory, settings, slot, clock=clock, jobs=jobs, stop=stop)
        except Exception:  # noqa: BLE001 - logged; the other partners still run
            log.exception(
                "partner %s (id %s): scheduled work failed", slot.partner, slot.partner_id
            )


def _safe_tick(*args, **kwargs) -> None:
    try:
        tick(*args, **kwargs)
    except Exception:  # noqa: BLE001 - e.g. the database is down; try again next tick
        log.exception("scheduler tick failed")


def run_scheduler(
    settings: Settings,
    *,
    stop: threading.Event,
    clock: Clock = utc_now,
    session_factory: job.Factory | None = None,
    jobs: job.Jobs | None = None,
) -> None:
    """Tick until `stop` is set; blocking, and installs nothing global (no signals, no logging)."""
    engine = None
    if session_factory is None:
        engine = make_engine(settings.database_url)
        session_factory = make_session_factory(engine)
    if jobs is None:
        queue = RunQueue.from_settings(settings) if settings.redis_url else None
        jobs = job.Jobs(queue=queue)
    arguments = {"clock": clock, "jobs": jobs, "stop": stop}
    every = settings.scheduler_tick_seconds
    scheduler = schedule.Scheduler()  # our own instance, never the module-level default
    scheduler.every(every).seconds.do(_safe_tick, session_factory, settings, **arguments)
    # Not every tick: a day's checklist alert only needs to go out soon after the window opens.
    checklist_every = max(every, checklist_alert.EVERY_SECONDS)
    scheduler.every(checklist_every).seconds.do(
        checklist_alert.safe_send, session_factory, settings, clock
    )
    mode = "enqueues runs for workers" if jobs.queue is not None else "runs syncs in-process"
    log.info("scheduler started, tick every %ss; it %s", every, mode)
    try:
        _safe_tick(session_factory, settings, **arguments)  # catch up at once, not one tick later
        checklist_alert.safe_send(session_factory, settings, clock)
        while not stop.is_set():
            scheduler.run_pending()
            stop.wait(max(0.0, min(scheduler.idle_seconds or every, every)))
    finally:
        scheduler.clear()
        if engine is not None:
            engine.dispose()
        log.info("scheduler stopped")


def start_scheduler_thread(settings: Settings, session_factory: job.Factory) -> Callable[[], None]:
    """Run the loop in a daemon thread (for `serve`); returns a function that stops it."""
    stop = threading.Event()
    if not settings.scheduler_enabled:
        return lambda: None
    thread = threading.Thread(
        target=run_scheduler,
        args=(settings,),
        daemon=True,
        kwargs={"stop": stop, "session_factory": session_factory},
        name="billing-sync-scheduler",
    )
    thread.start()

    def stop_scheduler(timeout: float = 60.0) -> None:
        stop.set()
        thread.join(timeout)

    return stop_scheduler

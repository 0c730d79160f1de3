"""A sync run: lease, gather, validate agreements, fan out per agreement, record the outcome."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from billing_sync import metrics
from billing_sync.connectwise.errors import ConnectWiseError, Interrupted
from billing_sync.connectwise.operations import AgreementBilling
from billing_sync.errors import NotFoundError, RunInProgress
from billing_sync.lease import (
    acquire_lease,
    current_lease,
    new_holder,
    release_lease,
    renew_lease,
)
from billing_sync.logs import log_context
from billing_sync.models import Partner, Run
from billing_sync.partner_connection import client_for
from billing_sync.settings import Settings
from billing_sync.sync.fanout import FanOut, fan_out
from billing_sync.sync.gather import RunContext, gather, previewed_changes
from billing_sync.sync.handle import OPEN_STATUSES, RunHandle
from billing_sync.sync.ledger import Ledger
from billing_sync.sync.report import ItemReport, RunReport
from billing_sync.sync.writes import WriteTiming
from billing_sync.text import clip_optional

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
ABANDONED_PREVIEW = timedelta(hours=1)
LOST_LEASE = (
    "the run lost its lease (it was stalled, or the database was unreachable) and stopped "
    "writing; the next run settles and completes its work"
)
Progress = Callable[[int, int], None]
PAST_DEADLINE = (
    "stopped at the run deadline ({seconds:g} s, BILLING_SYNC_RUN_DEADLINE) before every company "
    "was processed; the next run completes it"
)


def system_clock() -> datetime:
    """Wall-clock time in UTC (the shell's only source of 'now')."""
    return datetime.now(UTC)


def _partner(session: Session, partner_id: int) -> Partner:
    partner = session.get(Partner, partner_id)
    if partner is None:
        raise NotFoundError(f"no partner with id {partner_id}")
    return partner


def begin_run(
    factory: sessionmaker[Session],
    settings: Settings,
    partner_id: int,
    *,
    now: datetime,
    trigger: str = "manual",
    dry_run: bool = False,
    preview_run_id: int | None = None,
    queued: bool = False,
    hold_seconds: int | None = None,
    rollback_of_run_id: int | None = None,
) -> RunHandle:
    """Take the lease (real runs) and write the Run row; RunInProgress if another run holds it.

    A queued run (its job waits for a worker) is written as "queued" and holds the lease for
    `hold_seconds` (the longest a job may wait), so "already running" answers at once.
    """
    hold = hold_seconds or settings.lease_seconds
    lease = None
    with factory() as session:
        partner = _partner(session, partner_id)
        basis = partner.count_basis
        if not dry_run:
            lease = acquire_lease(factory, partner_id, new_holder(), seconds=hold)
            if lease is None:
                held = current_lease(session, partner_id)
                # The partner's zone, like every time its pages show.
                zone = ZoneInfo(partner.timezone)
                since = (
                    f" (started {held.acquired_at.astimezone(zone):%Y-%m-%d %H:%M %Z})"
                    if held
                    else ""
                )
                raise RunInProgress(
                    f"a sync for {partner.name} is already running{since}; wait for it to finish"
                )
    with factory.begin() as session:
        run = Run(
            partner_id=partner_id,
            trigger=trigger,
            dry_run=dry_run,
            status="queued" if queued else "running",
            basis=basis,
            started_at=now,
            heartbeat_at=now,
            preview_run_id=preview_run_id,
            rollback_of_run_id=rollback_of_run_id,
        )
        session.add(run)
        session.flush()
        run_id = run.id
    if lease is not None and not renew_lease(factory, lease, seconds=hold, run_id=run_id):
        log.error("run %s lost its lease before it began", run_id)
    return RunHandle(run_id, partner_id, lease, now, trigger, dry_run, preview_run_id, queued)


def run_sync(
    factory: sessionmaker[Session],
    settings: Settings,
    partner_id: int,
    *,
    now: datetime,
    trigger: str = "cli",
    dry_run: bool = False,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    clock: Clock = system_clock,
    client: AgreementBilling | None = None,
    preview_run_id: int | None = None,
) -> RunReport:
    """One run now: the same engine behind the scheduler, Sync now, preview, CLI and API."""
    handle = begin_run(
        factory,
        settings,
        partner_id,
        now=now,
        trigger=trigger,
        dry_run=dry_run,
        preview_run_id=preview_run_id,
    )
    return execute_run(
        factory, settings, handle, progress=progress, stop=stop, clock=clock, client=client
    )


class _Heartbeat(threading.Thread):
    """Renews the lease while a run works; any failure to renew marks the run lost at once."""

    def __init__(
        self, factory, settings: Settings, handle: RunHandle, clock: Clock, lost: threading.Event
    ):
        super().__init__(daemon=True, name=f"lease-{handle.run_id}")
        self.args = (factory, settings, handle, clock)
        self.lost = lost
        self.done = threading.Event()

    def run(self) -> None:
        factory, settings, handle, clock = self.args
        while not self.done.wait(max(settings.lease_seconds / 3, 0.5)):
            try:
                held = renew_lease(factory, handle.lease, seconds=settings.lease_seconds)
                if held:
                    with factory.begin() as session:
                        session.execute(
                            update(Run).where(Run.id == handle.run_id).values(heartbeat_at=clock())
                        )
            except Exception:  # noqa: BLE001 - a heartbeat that cannot renew is a lost lease
                log.exception("run %s could not renew its lease", handle.run_id)
                held = False
            if not held:
                log.error("run %s lost its lease; it writes nothing more", handle.run_id)
                self.lost.set()
                return


def _mark_abandoned(factory, handle: RunHandle, now: datetime) -> None:
    """Runs left 'running' by a dead process: we hold the lease, so no real run is alive.

    Previews take no lease; one still 'running' after an hour died with its process.
    """
    stale_preview = Run.dry_run.is_(True) & (Run.started_at < now - ABANDONED_PREVIEW)
    with factory.begin() as session:
        session.execute(
            update(Run)
            .where(
                Run.partner_id == handle.partner_id,
                Run.status.in_(OPEN_STATUSES),
                Run.dry_run.is_(False) | stale_preview,
                Run.id != handle.run_id,
            )
            .values(
                status="interrupted",
                finished_at=now,
                message=f"the process running it stopped; run {handle.run_id} settled its writes",
            )
        )


def _start_queued(factory, handle: RunHandle, now: datetime) -> bool:
    """Move a queued run to running; False when another delivery of its job got there first."""
    with factory.begin() as session:
        return bool(
            session.execute(
                update(Run)
                .where(Run.id == handle.run_id, Run.status == "queued")
                .values(status="running", heartbeat_at=now)
            ).rowcount
        )


def _not_started(factory, handle: RunHandle) -> RunReport:
    """The report of a delivery that found its run started or ended already: it did nothing."""
    with factory() as session:
        status = session.scalar(select(Run.status).where(Run.id == handle.run_id)) or "missing"
    log.warning("run %s is %s already; this delivery of its job did nothing", handle.run_id, status)
    report = RunReport(handle.run_id, status, message=f"run {handle.run_id} was {status} already")
    report.recorded = False
    return report


def _status(items: list[ItemReport], stopped: bool) -> str:
    if stopped:
        return "interrupted"
    errors = sum(1 for i in items if i.action == "error")
    if errors == 0:  # held items wait for a person: "held" when they are all that is wrong
        return "held" if any(i.action == "held" for i in items) else "succeeded"
    return "partial" if errors < len(items) else "failed"


def _finish(
    factory, handle: RunHandle, report: RunReport, now: datetime, context: RunContext | None = None
) -> RunReport:
    """Record the outcome, unless another process already closed the run (it was reaped)."""
    counts = defaultdict(int)
    for item in report.items:
        counts[item.action] += 1
    values = {
        "status": report.status,
        "finished_at": now,
        "message": clip_optional(report.message),
        "warnings": json.dumps(report.warnings) if report.warnings else None,
        "left_out": json.dumps(report.left_out) if report.left_out else None,
        "done_items": len(report.items),
        "created": counts["create"],
        "updated": counts["update"],
        "unchanged": counts["unchanged"],
        "skipped": counts["skipped"],
        "errors": counts["error"],
        "held": counts["held"],
    }
    if context is not None and context.period is not None:
        values["period"] = context.period.first_day
    with factory.begin() as session:
        recorded = session.execute(
            update(Run)
            .where(Run.id == handle.run_id, Run.status.in_(OPEN_STATUSES))
            .values(**values)
        ).rowcount
    report.recorded = bool(recorded)
    if recorded:
        metrics.count_run("preview" if handle.dry_run else handle.trigger, report.status, counts)
    else:
        log.warning(
            "run %s ended %s after another process had closed it; the ledger keeps its items",
            handle.run_id,
            report.status,
        )
    return report


def _set_total(factory, handle: RunHandle, context: RunContext, now: datetime) -> None:
    with factory.begin() as session:
        run = session.get(Run, handle.run_id)
        run.total_items = len(context.targets) * len(context.products)
        run.period = context.period.first_day if context.period else None
        run.counted_at = now


def execute_run(
    factory: sessionmaker[Session],
    settings: Settings,
    handle: RunHandle,
    *,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    clock: Clock = system_clock,
    client: AgreementBilling | None = None,
) -> RunReport:
    """Do the run's work; never raises for ConnectWise trouble, always records an outcome."""
    with log_context(partner_id=handle.partner_id, run_id=handle.run_id):
        return _execute(factory, settings, handle, progress, stop, clock, client)


def _execute(factory, settings, handle, progress, stop, clock, client) -> RunReport:
    deadline = time.monotonic() + settings.run_deadline_seconds
    if handle.queued and not _start_queued(factory, handle, clock()):
        return _not_started(factory, handle)
    report = RunReport(handle.run_id, "running")
    lost = threading.Event()
    heartbeat = None
    own_client = client is None
    context = None
    try:
        with factory() as session:
            partner = _partner(session, handle.partner_id)
            enabled = partner.integration_enabled
            concurrency = partner.sync_concurrency or settings.sync_concurrency
        if not handle.dry_run and not enabled:
            report.status = "refused"
            report.message = (
                "the ConnectWise integration is disabled for this partner: nothing "
                "was written (enable it to sync; preview still works)"
            )
            return _finish(factory, handle, report, clock())
        if not handle.dry_run:
            if not renew_lease(factory, handle.lease, seconds=settings.lease_seconds):
                report.status = "interrupted"
                report.message = LOST_LEASE
                return _finish(factory, handle, report, clock())
            heartbeat = _Heartbeat(factory, settings, handle, clock, lost)
            heartbeat.start()
            _mark_abandoned(factory, handle, handle.now)
        with factory.begin() as session:
            context = gather(
                session,
                _partner(session, handle.partner_id),
                now=handle.now,
                freeze=not handle.dry_run,
                run_id=handle.run_id,
            )
            if handle.preview_run_id is not None:
                context.previewed = previewed_changes(
                    session, handle.partner_id, handle.preview_run_id
                )
        report.warnings = list(context.warnings)
        report.left_out = list(context.left_out)
        _set_total(factory, handle, context, handle.now)
        timing = WriteTiming.from_settings(
            settings.cw_timeout_seconds, settings.settle_margin_seconds
        )
        attempts = settings.cw_max_retries + 1
        plan = FanOut(concurrency, timing, attempts, progress, stop, lost, clock, deadline)
        if client is None:  # its listings stop between pages once the run halts
            with factory() as session:
                client = client_for(session, settings, handle.partner_id, stop=plan.halted)
        ledger = Ledger(
            factory,
            handle.run_id,
            handle.partner_id,
            clock,
            lease=handle.lease,
            lease_seconds=settings.lease_seconds,
            settle_after=timing.settle_after,
        )
        stopped = fan_out(factory, handle, context, client, report, ledger, plan)
        report.status = _status(report.items, stopped or lost.is_set())
        if lost.is_set():
            report.message = LOST_LEASE
        elif stopped and plan.past_deadline():
            report.message = PAST_DEADLINE.format(seconds=settings.run_deadline_seconds)
        elif stopped:
            report.message = "stopped before every company was processed; the next run completes it"
        return _finish(factory, handle, report, clock(), context)
    except ConnectWiseError as exc:  # e.g. the agreements lookup failed, or was stopped
        report.status = "interrupted" if isinstance(exc, Interrupted) else "failed"
        report.message = f"{exc} — {exc.advice}"
        return _finish(factory, handle, report, clock(), context)
    except Exception as exc:
        log.exception("run %s of partner %s failed", handle.run_id, handle.partner_id)
        report.status = "failed"
        report.message = f"internal error: {exc}"
        return _finish(factory, handle, report, clock(), context)
    finally:
        if heartbeat is not None:
            heartbeat.done.set()
        if handle.lease is not None:
            release_lease(factory, handle.lease)
        if own_client and client is not None:
            client.close()

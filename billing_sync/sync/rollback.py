"""Roll a run back: a run of its own (trigger "rollback") that puts back what another run wrote.

It takes the partner's lease like any run and writes through the engine's exactly-once path;
a preview (dry run) writes nothing. Rolling back a rollback restores the original run's values.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from billing_sync.connectwise.errors import ConnectWiseError, Interrupted
from billing_sync.connectwise.operations import AgreementBilling
from billing_sync.errors import Conflict, InvalidInput, NotFoundError
from billing_sync.lease import release_lease, renew_lease
from billing_sync.logs import log_context
from billing_sync.models import Partner, Run
from billing_sync.partner_connection import client_for
from billing_sync.settings import Settings
from billing_sync.sync.handle import OPEN_STATUSES, RunHandle
from billing_sync.sync.ledger import Ledger, open_intents
from billing_sync.sync.report import ItemReport, RunReport
from billing_sync.sync.rollback_apply import (
    Rollback,
    UndoJob,
    changed_items,
    gather_rollback,
    undo_agreement,
)

# The run's shell pieces, shared so a rollback is leased, fenced and recorded like any run.
from billing_sync.sync.runner import (
    LOST_LEASE,
    Clock,
    _finish,
    _Heartbeat,
    _mark_abandoned,
    _not_started,
    _start_queued,
    _status,
    begin_run,
    system_clock,
)
from billing_sync.sync.writes import WriteTiming

log = logging.getLogger(__name__)
TRIGGER = "rollback"
NEXT_RUN = (
    "A rollback undoes a run's writes only: fix the seats or mappings, or the next run writes "
    "the counts again."
)
INTEGRATION_OFF = (
    "the ConnectWise integration is disabled for this partner: nothing was written (enable it "
    "to roll back; a preview still works)"
)


def rollback_target(session: Session, partner_id: int, run_id: int) -> Run:
    """The run to roll back; NotFoundError, InvalidInput or Conflict say why it cannot be."""
    run = session.get(Run, run_id)
    if run is None or run.partner_id != partner_id:
        raise NotFoundError(f"no run {run_id} for this partner")
    if run.dry_run:
        raise InvalidInput(f"run {run_id} is a preview: it wrote nothing to roll back")
    if run.status in OPEN_STATUSES:
        raise Conflict(f"run {run_id} is still {run.status}; roll it back once it has ended")
    if not changed_items(session, partner_id, run_id):
        raise InvalidInput(f"run {run_id} changed nothing in ConnectWise: nothing to roll back")
    return run


def may_roll_back(session: Session, partner_id: int, run: Run) -> bool:
    """Whether a run page offers "Roll back this run": a real, ended run that changed something."""
    if run.partner_id != partner_id or run.dry_run or run.status in OPEN_STATUSES:
        return False
    return bool(changed_items(session, partner_id, run.id))


def rolled_back_by(session: Session, partner_id: int, run_id: int) -> list[Run]:
    """The real rollbacks of a run, oldest first, for its page to link."""
    return list(
        session.scalars(
            select(Run)
            .where(
                Run.partner_id == partner_id,
                Run.rollback_of_run_id == run_id,
                Run.dry_run.is_(False),
            )
            .order_by(Run.id)
        )
    )


def begin_rollback(
    factory: sessionmaker[Session],
    settings: Settings,
    partner_id: int,
    run_id: int,
    *,
    now: datetime,
    dry_run: bool = False,
    queued: bool = False,
    hold_seconds: int | None = None,
) -> RunHandle:
    """Check the run may be rolled back, then begin a run of its own (lease unless a preview)."""
    with factory() as session:
        rollback_target(session, partner_id, run_id)
    return begin_run(
        factory,
        settings,
        partner_id,
        now=now,
        trigger=TRIGGER,
        dry_run=dry_run,
        queued=queued,
        hold_seconds=hold_seconds,
        rollback_of_run_id=run_id,
    )


def rollback_run(
    factory: sessionmaker[Session],
    settings: Settings,
    partner_id: int,
    run_id: int,
    *,
    now: datetime,
    dry_run: bool = False,
    clock: Clock = system_clock,
    client: AgreementBilling | None = None,
) -> RunReport:
    """Roll a run back now (the CLI): begin, then carry it out in this thread."""
    handle = begin_rollback(factory, settings, partner_id, run_id, now=now, dry_run=dry_run)
    return execute_rollback(factory, settings, handle, clock=clock, client=client)


def execute_rollback(
    factory: sessionmaker[Session],
    settings: Settings,
    handle: RunHandle,
    *,
    stop: threading.Event | None = None,
    clock: Clock = system_clock,
    client: AgreementBilling | None = None,
) -> RunReport:
    """Carry out a begun rollback; never raises for ConnectWise trouble, always records it."""
    with log_context(partner_id=handle.partner_id, run_id=handle.run_id):
        if handle.queued and not _start_queued(factory, handle, clock()):
            return _not_started(factory, handle)
        report = RunReport(handle.run_id, "running")
        lost = threading.Event()
        heartbeat, own_client = None, client is None
        try:
            with factory() as session:
                enabled = session.get(Partner, handle.partner_id).integration_enabled
                run = session.get(Run, handle.run_id)
                rollback = gather_rollback(session, handle.partner_id, run.rollback_of_run_id)
            if not handle.dry_run and not enabled:
                report.status, report.message = "refused", INTEGRATION_OFF
                return _finish(factory, handle, report, clock())
            if not handle.dry_run:
                if not renew_lease(factory, handle.lease, seconds=settings.lease_seconds):
                    report.status, report.message = "interrupted", LOST_LEASE
                    return _finish(factory, handle, report, clock())
                heartbeat = _Heartbeat(factory, settings, handle, clock, lost)
                heartbeat.start()
                _mark_abandoned(factory, handle, handle.now)
            _set_total(factory, handle, len(rollback.undos))
            if client is None:
                with factory() as session:
                    client = client_for(session, settings, handle.partner_id)
            work = _Work(factory, settings, handle, clock, lost, stop)
            stopped = _undo_all(work, rollback, client, report)
            report.status = _status(report.items, stopped or lost.is_set())
            report.message = LOST_LEASE if lost.is_set() else _message(handle, rollback, stopped)
            return _finish(factory, handle, report, clock())
        except ConnectWiseError as exc:
            report.status = "interrupted" if isinstance(exc, Interrupted) else "failed"
            report.message = f"{exc} — {exc.advice}"
            return _finish(factory, handle, report, clock())
        except Exception as exc:
            log.exception("rollback run %s of partner %s failed", handle.run_id, handle.partner_id)
            report.status, report.message = "failed", f"internal error: {exc}"
            return _finish(factory, handle, report, clock())
        finally:
            if heartbeat is not None:
                heartbeat.done.set()
            if handle.lease is not None:
                release_lease(factory, handle.lease)
            if own_client and client is not None:
                client.close()


def _message(handle: RunHandle, rollback: Rollback, stopped: bool) -> str:
    preview = " (a preview: nothing was written)" if handle.dry_run else ""
    message = f"Rollback of run {rollback.run_id}{preview}. {NEXT_RUN}"
    if stopped:
        message = f"stopped before every agreement was processed; roll back again. {message}"
    return message


def _set_total(factory, handle: RunHandle, total: int) -> None:
    with factory.begin() as session:
        session.execute(update(Run).where(Run.id == handle.run_id).values(total_items=total))


@dataclass(frozen=True)
class _Work:
    """How a rollback's agreements are worked through: where, by whose clock, when to stop."""

    factory: sessionmaker[Session]
    settings: Settings
    handle: RunHandle
    clock: Clock
    lost: threading.Event
    stop: threading.Event | None

    def ledger(self, timing: WriteTiming) -> Ledger:
        """The rollback run's ledger, fenced by its lease."""
        return Ledger(
            self.factory,
            self.handle.run_id,
            self.handle.partner_id,
            self.clock,
            lease=self.handle.lease,
            lease_seconds=self.settings.lease_seconds,
            settle_after=timing.settle_after,
        )


def _undo_all(work: _Work, rollback: Rollback, client, report: RunReport) -> bool:
    """Every agreement's undos on a bounded pool; True when stopped before the end."""
    settings, handle = work.settings, work.handle
    deadline = time.monotonic() + settings.run_deadline_seconds
    timing = WriteTiming.from_settings(settings.cw_timeout_seconds, settings.settle_margin_seconds)
    ledger = work.ledger(timing)
    pending: dict[int, list] = {}
    with work.factory() as session:  # earlier runs' writes in flight: settled if ripe, else wait
        for item in open_intents(session, handle.partner_id, before_run=handle.run_id):
            pending.setdefault(item.agreement_id, []).append(item)

    def one(agreement_id: int) -> list[ItemReport] | None:
        asked = work.stop is not None and work.stop.is_set()
        if asked or work.lost.is_set() or time.monotonic() >= deadline:
            return None  # the agreements in flight finish; the rest wait for another rollback
        job = UndoJob(
            rollback,
            agreement_id,
            ledger,
            client,
            handle.now,
            handle.dry_run,
            pending.get(agreement_id, []),
            timing,
            settings.cw_max_retries + 1,
            work.lost,
        )
        return undo_agreement(job)

    with ThreadPoolExecutor(max_workers=max(1, settings.sync_concurrency)) as pool:
        # Each job runs in a copy of this context, so its log lines name the partner and run.
        futures = [pool.submit(copy_context().run, one, a) for a in sorted(rollback.by_agreement)]
        results = [future.result() for future in futures]
    for result in results:
        report.items.extend(result or [])
    report.items.sort(key=lambda i: (i.company_name.casefold(), i.company, i.product))
    return any(result is None for result in results)

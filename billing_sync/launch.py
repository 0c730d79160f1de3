"""Start a run now: the one service the web pages, the API and the scheduler call.

The run's row and lease are taken by the caller (`begin_run`), so a second start answers "already
running" at once; the work is then handed to a worker (BILLING_SYNC_REDIS_URL set) or to a
thread of this process (the embedded default).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import delete, update
from sqlalchemy.orm import Session, sessionmaker

from billing_sync.errors import BillingSyncError
from billing_sync.lease import release_lease
from billing_sync.models import Run
from billing_sync.queue.client import INTERACTIVE, DuplicateJobError, QueueUnavailable, RunQueue
from billing_sync.settings import Settings
from billing_sync.sync.dispatch import carry_out
from billing_sync.sync.runner import RunHandle, begin_run, system_clock

log = logging.getLogger(__name__)
Factory = sessionmaker[Session]


class AlreadyQueued(BillingSyncError):
    """A job with this id was queued before: this repeat started nothing."""


@dataclass(frozen=True)
class StartedRun:
    """A run handed over: "queued" for a worker, or its status once on a thread of this process."""

    run_id: int
    status: str
    job_id: str | None = None


class Launcher(Protocol):
    """Carries out a begun run somewhere; returns the job id when it was queued."""

    queued: bool
    hold_seconds: int | None

    def launch(self, handle: RunHandle, *, job_id: str | None, queue: str | None) -> str | None:
        """Hand the run over."""


class InProcess:
    """Embedded: every run, previews included, on a background thread of this process."""

    queued = False
    hold_seconds = None

    def __init__(
        self,
        start_thread: Callable[[int, Callable[[], object]], None],
        factory: Factory,
        settings: Settings,
        clock: Callable[[], datetime] = system_clock,
    ) -> None:
        self.start_thread, self.factory, self.settings, self.clock = (
            start_thread,
            factory,
            settings,
            clock,
        )

    def launch(self, handle: RunHandle, *, job_id: str | None, queue: str | None) -> None:
        # A preview of a large partner takes many seconds of ConnectWise reads: no page waits.
        self.start_thread(
            handle.run_id,
            lambda: carry_out(self.factory, self.settings, handle, clock=self.clock),
        )


class Queued:
    """The fleet: the run becomes a job for `billing-sync worker` processes."""

    queued = True

    def __init__(self, run_queue: RunQueue) -> None:
        self.run_queue = run_queue
        self.hold_seconds = run_queue.hold_seconds

    def launch(self, handle: RunHandle, *, job_id: str | None, queue: str | None) -> str:
        return self.run_queue.enqueue_run(
            handle, job_id=job_id or f"run-{handle.run_id}", queue=queue or INTERACTIVE
        )


def start_run(
    factory: Factory,
    settings: Settings,
    launcher: Launcher,
    partner_id: int,
    *,
    now: datetime,
    trigger: str,
    dry_run: bool = False,
    preview_run_id: int | None = None,
    job_id: str | None = None,
    queue: str | None = None,
    rollback_of_run_id: int | None = None,
) -> StartedRun:
    """Begin a run and hand it over.

    Raises RunInProgress (another run holds the lease), AlreadyQueued (a job with `job_id`
    exists: nothing new) or QueueUnavailable (Redis is down: the run is recorded as failed).
    """
    handle = begin_run(
        factory,
        settings,
        partner_id,
        now=now,
        trigger=trigger,
        dry_run=dry_run,
        preview_run_id=preview_run_id,
        queued=launcher.queued,
        hold_seconds=launcher.hold_seconds,
        rollback_of_run_id=rollback_of_run_id,
    )
    try:
        queued_as = launcher.launch(handle, job_id=job_id, queue=queue)
    except DuplicateJobError:
        _forget(factory, handle)
        raise AlreadyQueued(f"job {job_id} was queued before; nothing new was started") from None
    except QueueUnavailable as exc:
        _give_up(factory, handle, f"could not be queued: {exc}", now)
        raise
    if launcher.queued:
        return StartedRun(handle.run_id, "queued", queued_as)
    with factory() as session:
        return StartedRun(handle.run_id, session.get(Run, handle.run_id).status)


def _forget(factory: Factory, handle: RunHandle) -> None:
    """A run that never was (its slot was queued already): drop the row, free the lease."""
    with factory.begin() as session:
        session.execute(delete(Run).where(Run.id == handle.run_id, Run.status == "queued"))
    if handle.lease is not None:
        release_lease(factory, handle.lease)


def _give_up(factory: Factory, handle: RunHandle, message: str, now: datetime) -> None:
    """A run no worker will see: say why on its row and free the lease."""
    log.error("run %s of partner %s %s", handle.run_id, handle.partner_id, message)
    with factory.begin() as session:
        session.execute(
            update(Run)
            .where(Run.id == handle.run_id, Run.status == "queued")
            .values(status="failed", finished_at=now, message=message)
        )
    if handle.lease is not None:
        release_lease(factory, handle.lease)

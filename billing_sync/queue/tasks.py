"""The job functions a worker runs: a run begun elsewhere, a credentials check.

A worker process builds its own engine and session factory from Settings, once (`bind`, or on
the first job); jobs receive plain JSON values and never touch Flask.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

from rq import get_current_job
from sqlalchemy.orm import Session, sessionmaker

from billing_sync.db import make_engine, make_session_factory
from billing_sync.logs import log_context
from billing_sync.scheduler import jobs as scheduler_jobs
from billing_sync.scheduler import outcome, slots
from billing_sync.settings import Settings
from billing_sync.sync.dispatch import carry_out
from billing_sync.sync.runner import RunHandle

log = logging.getLogger(__name__)
_context: WorkerContext | None = None
_context_lock = threading.Lock()


@dataclass
class WorkerContext:
    """What every job of one worker process shares."""

    settings: Settings
    factory: sessionmaker[Session]
    #: Set when the worker is asked to stop (SIGTERM) or a job runs out of time: the run in
    #: hand stops after the writes in flight and records "interrupted".
    stop: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerContext:
        """One engine for the process (jobs run in it, one after the other)."""
        return cls(settings, make_session_factory(make_engine(settings.database_url)))


def bind(context: WorkerContext | None) -> None:
    """Use this context for the jobs of this process (`billing-sync worker` calls it)."""
    global _context
    with _context_lock:
        _context = context


def context() -> WorkerContext:
    """The process's context; a plain `rq worker` gets one built from the environment."""
    global _context
    with _context_lock:
        if _context is None:
            _context = WorkerContext.from_settings(Settings.from_env())
        return _context


def _job_id() -> str | None:
    job = get_current_job()
    return job.id if job is not None else None


def run_job(handle: dict) -> dict:
    """Carry out a begun run, then follow it up (alerts, month-close retry) if it ended here."""
    ctx = context()
    run = RunHandle.from_dict(handle)
    with log_context(partner_id=run.partner_id, run_id=run.run_id, job_id=_job_id()):
        ctx.stop.clear()
        deadline = threading.Timer(ctx.settings.job_timeout_seconds, ctx.stop.set)
        deadline.daemon = True
        deadline.start()
        try:
            report = carry_out(ctx.factory, ctx.settings, run, stop=ctx.stop)
        finally:
            deadline.cancel()
        if report.recorded:  # this delivery closed the run row, so it follows the run up
            outcome.after_run(ctx.factory, ctx.settings, run.run_id, now=datetime.now(UTC))
        log.info("run %s %s", run.run_id, report.status)
        return {"run_id": run.run_id, "status": report.status, "recorded": report.recorded}


def check_job(partner_id: int) -> dict:
    """The partner's daily credentials check (alerts when it fails)."""
    ctx = context()
    with log_context(partner_id=partner_id, job_id=_job_id()):
        with ctx.factory() as session:
            slot = slots.schedule_for(session, partner_id)
        if slot is None:
            return {"partner_id": partner_id, "ok": None}
        ok = scheduler_jobs.check(
            ctx.factory,
            ctx.settings,
            slot,
            now=datetime.now(UTC),
            jobs=scheduler_jobs.Jobs(),
        )
        return {"partner_id": partner_id, "ok": ok}

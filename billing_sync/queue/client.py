"""The queue as the rest of billing-sync sees it: enqueue a run or a check, read queue health."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer
from rq.worker import Worker

from billing_sync.errors import BillingSyncError
from billing_sync.settings import Settings
from billing_sync.sync.handle import RunHandle

log = logging.getLogger(__name__)

INTERACTIVE = "interactive"  # Sync now, previews, API: a person waits, so workers take it first
SCHEDULED = "scheduled"  # scheduled and month-close runs, credentials checks
QUEUES = (INTERACTIVE, SCHEDULED)
RUN_JOB = "billing_sync.queue.tasks.run_job"
CHECK_JOB = "billing_sync.queue.tasks.check_job"
#: After BILLING_SYNC_JOB_TIMEOUT a run is asked to stop after the writes in flight; RQ ends
#: the job this much later if it has not (a write in flight is bounded by the CW timeouts).
HARD_STOP_GRACE = 120
# A Redis that stops answering costs a request a few seconds, never a hung page.
REDIS_OPTIONS = {"socket_connect_timeout": 3, "socket_timeout": 10, "health_check_interval": 30}
ENDED = {JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED}

__all__ = ["DuplicateJobError", "QueueUnavailable", "RunQueue"]


class QueueUnavailable(BillingSyncError):
    """Redis did not take the job: nothing was queued (try again when Redis answers)."""


@dataclass(frozen=True)
class QueueStats:
    """One queue's health for /metrics."""

    name: str
    depth: int
    oldest_age_seconds: float
    failed: int


@dataclass
class RunQueue:
    """RQ queues on one Redis, with the job options billing-sync sets explicitly."""

    settings: Settings
    connection: Redis

    @classmethod
    def from_settings(cls, settings: Settings) -> RunQueue:
        """Connects lazily: building one touches nothing until the first command."""
        if not settings.redis_url:
            raise ValueError("BILLING_SYNC_REDIS_URL is not set: runs are carried out in-process")
        return cls(settings, Redis.from_url(settings.redis_url, **REDIS_OPTIONS))

    def queue(self, name: str) -> Queue:
        """The named RQ queue (JSON jobs: nothing from Redis is ever unpickled)."""
        return Queue(name, connection=self.connection, serializer=JSONSerializer)

    @property
    def hold_seconds(self) -> int:
        """How long a queued run holds its lease: as long as its job may wait."""
        return self.settings.job_queued_ttl_seconds

    def enqueue_run(self, handle: RunHandle, *, job_id: str, queue: str = INTERACTIVE) -> str:
        """Queue a begun run; DuplicateJobError when a job with this id exists already."""
        return self._enqueue(
            queue, RUN_JOB, job_id, f"run {handle.run_id}", handle=handle.to_dict()
        )

    def enqueue_check(self, partner_id: int, *, job_id: str) -> str:
        """Queue a partner's credentials check; DuplicateJobError when queued already."""
        return self._enqueue(
            SCHEDULED, CHECK_JOB, job_id, f"credentials check {partner_id}", partner_id=partner_id
        )

    def _enqueue(self, queue: str, func: str, job_id: str, description: str, **kwargs) -> str:
        settings = self.settings
        try:
            job = self.queue(queue).enqueue_call(
                func,
                kwargs=kwargs,
                job_id=job_id,
                unique=True,  # atomic in Redis: a second enqueue of this id raises
                description=description,
                timeout=settings.job_timeout_seconds + HARD_STOP_GRACE,
                ttl=settings.job_queued_ttl_seconds,
                result_ttl=settings.job_result_ttl_seconds,
                failure_ttl=settings.job_failure_ttl_seconds,
            )
        except RedisError as exc:
            raise QueueUnavailable(f"the job queue (Redis) is unreachable: {exc}") from exc
        log.info("queued %s as job %s on %s", description, job.id, queue)
        return job.id

    def job(self, job_id: str) -> Job | None:
        """The job with this id on any of our queues, or None when Redis no longer has it."""
        try:
            return Job.fetch(job_id, connection=self.connection, serializer=JSONSerializer)
        except NoSuchJobError:
            return None

    def job_status(self, job_id: str) -> str | None:
        """The job's RQ status, or None when Redis no longer has it."""
        job = self.job(job_id)
        return None if job is None else str(job.get_status(refresh=False))

    def job_ended(self, job_id: str) -> bool | None:
        """True when the job finished, failed or was stopped; None when it is gone."""
        status = self.job_status(job_id)
        return None if status is None else JobStatus(status) in ENDED

    def reachable(self) -> str | None:
        """None when Redis answers, else the reason (no URL, no password in it)."""
        try:
            self.connection.ping()
        except RedisError as exc:
            return f"Redis unreachable: {type(exc).__name__}: {exc}"
        return None

    def stats(self, now: datetime) -> list[QueueStats]:
        """Depth, age of the oldest waiting job and failed jobs of each queue."""
        found = []
        for name in QUEUES:
            queue = self.queue(name)
            oldest = 0.0
            for job_id in queue.get_job_ids(0, 10):  # the head; ids whose job expired are skipped
                job = queue.fetch_job(job_id)
                if job is not None and job.enqueued_at is not None:
                    enqueued = job.enqueued_at
                    enqueued = enqueued if enqueued.tzinfo else enqueued.replace(tzinfo=UTC)
                    oldest = (now - enqueued).total_seconds()
                    break
            found.append(
                QueueStats(name, queue.count, max(oldest, 0.0), queue.failed_job_registry.count)
            )
        return found

    def workers(self) -> int:
        """Workers registered in Redis (alive within their heartbeat)."""
        return Worker.count(connection=self.connection)

"""`billing-sync worker`: an RQ worker that carries out runs and checks, one at a time."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Sequence

from rq.serializers import JSONSerializer
from rq.worker import SimpleWorker

from billing_sync.logs import log_context
from billing_sync.queue import tasks
from billing_sync.queue.client import QUEUES, RunQueue
from billing_sync.settings import Settings

log = logging.getLogger(__name__)


class BillingWorker(SimpleWorker):
    """Runs each job in the worker process (no fork per job).

    One process keeps one database engine and one set of metric files, and a SIGTERM reaches the
    run in hand: it stops after the writes in flight, records "interrupted", and the worker
    exits (the scheduler re-queues an unfinished month close). A SIGKILL loses nothing either:
    the run's lease runs out and the scheduler closes and follows it up.
    """

    def perform_job(self, job, queue) -> bool:
        # RQ's own lines about the job (started, done, failed) carry its id too.
        with log_context(job_id=job.id):
            return super().perform_job(job, queue)

    def handle_warm_shutdown_request(self) -> None:
        super().handle_warm_shutdown_request()
        tasks.context().stop.set()


def check_queue_names(names: Sequence[str]) -> list[str]:
    """The queues to listen on, in priority order; refuses names no one enqueues on."""
    unknown = [n for n in names if n not in QUEUES]
    if unknown:
        raise ValueError(f"unknown queue {', '.join(unknown)}: choose from {', '.join(QUEUES)}")
    return list(dict.fromkeys(names)) or list(QUEUES)


def run_worker(
    settings: Settings, queue_names: Sequence[str], *, burst: bool = False, name: str | None = None
) -> bool:
    """Work until stopped (or, with burst, until the queues are empty); True if any job ran."""
    run_queue = RunQueue.from_settings(settings)
    context = tasks.WorkerContext.from_settings(settings)
    tasks.bind(context)
    worker = BillingWorker(
        [run_queue.queue(n) for n in check_queue_names(queue_names)],
        connection=run_queue.connection,
        serializer=JSONSerializer,
        name=name or f"{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:6]}",
    )
    try:
        return worker.work(burst=burst, with_scheduler=False)
    finally:
        context.factory.kw["bind"].dispose()

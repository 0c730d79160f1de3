"""`billing-sync worker`: carry out queued runs (needs BILLING_SYNC_REDIS_URL)."""

from __future__ import annotations

import logging

import click

from billing_sync import metrics
from billing_sync.cli.common import CliError, settings
from billing_sync.logs import setup_logging
from billing_sync.queue.client import QUEUES


@click.command("worker")
@click.option(
    "--queues",
    "-q",
    "queue_options",
    multiple=True,
    metavar="Q",
    help=f"Queues to take jobs from, first first (default: {' '.join(QUEUES)}).",
)
@click.argument("more_queues", nargs=-1, metavar="[Q]...")
@click.option("--burst", is_flag=True, help="Exit once the queues are empty.")
@click.option("--name", help="Worker name shown in RQ (default: host.pid.random).")
def worker(queue_options: tuple[str, ...], more_queues: tuple[str, ...], burst: bool, name):
    """Carry out queued sync runs and credentials checks until stopped (SIGTERM-safe).

    Run as many as wanted, on any host that reaches the database and Redis:
    `billing-sync worker --queues interactive scheduled`.
    """
    config = settings()
    if not config.redis_url:
        raise CliError("billing-sync worker needs BILLING_SYNC_REDIS_URL (the job queue)")
    names = [n for option in queue_options for n in option.split(",") if n] + list(more_queues)
    from billing_sync.queue.worker import check_queue_names, run_worker

    try:
        names = check_queue_names(names)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    config.require_secret()  # runs decrypt ConnectWise keys: fail now, not on the first job
    metrics.configure(config)
    setup_logging(config, info_from=("billing_sync", "rq.worker"))
    logging.getLogger(__name__).info("worker on queues %s", ", ".join(names))
    run_worker(config, names, burst=burst, name=name)

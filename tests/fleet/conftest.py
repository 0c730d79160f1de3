"""Fleet fixtures: the sync world of tests/sync, a real Redis database of our own, worker processes.

Tests that need Redis skip, saying why, when BILLING_SYNC_TEST_REDIS_URL is unset or does not
answer (.ci/run starts a redis-server and sets it). The database named by that URL is flushed
before and after every test: give the tests a database number nothing else uses.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest
from redis import Redis
from redis.exceptions import RedisError

from billing_sync.queue.client import RunQueue
from tests.conftest import TEST_SECRET
from tests.support.lifeline import tied_to_parent
from tests.sync.conftest import cw, cw_state, world  # noqa: F401 - fixtures

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("BILLING_SYNC_TEST_REDIS_URL")


@pytest.fixture
def redis_url() -> str:
    """A flushed Redis database for this test, or a skip that says why there is none."""
    if not REDIS_URL:
        pytest.skip("BILLING_SYNC_TEST_REDIS_URL is not set: the fleet tests need a real Redis")
    connection = Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        connection.ping()
    except RedisError as exc:
        pytest.skip(f"Redis at BILLING_SYNC_TEST_REDIS_URL does not answer: {exc}")
    connection.flushdb()
    yield REDIS_URL
    connection.flushdb()
    connection.close()


@pytest.fixture
def fleet_settings(settings, redis_url, tmp_path):
    """Settings of a fleet under test: short leases and timeouts, so crashes heal in seconds."""
    return replace(
        settings,
        cw_timeout_seconds=0.5,
        settle_margin_seconds=0.0,
        redis_url=redis_url,
        lease_seconds=2,
        metrics_dir=tmp_path / "metrics",
        job_timeout_seconds=120,
        job_queued_ttl_seconds=120,
    )


@pytest.fixture
def run_queue(fleet_settings):
    queue = RunQueue.from_settings(fleet_settings)
    yield queue
    queue.connection.close()


def process_env(settings, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a billing-sync process sharing the test's database and Redis."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "BILLING_SYNC_DATABASE_URL": settings.database_url,
        "BILLING_SYNC_SECRET_KEY": TEST_SECRET,
        "BILLING_SYNC_ALLOW_PRIVATE_HOSTS": "1",
        "BILLING_SYNC_INSTANCE_PATH": str(tmp_path),
        "BILLING_SYNC_REDIS_URL": settings.redis_url or "",
        "BILLING_SYNC_LEASE_SECONDS": str(settings.lease_seconds),
        "BILLING_SYNC_CW_TIMEOUT": str(settings.cw_timeout_seconds),
        "BILLING_SYNC_SETTLE_MARGIN": str(settings.settle_margin_seconds),
        "BILLING_SYNC_JOB_TIMEOUT": str(settings.job_timeout_seconds),
        "BILLING_SYNC_JOB_QUEUED_TTL": str(settings.job_queued_ttl_seconds),
        "BILLING_SYNC_METRICS_DIR": str(settings.metrics_dir or ""),
        "BILLING_SYNC_LOG_FORMAT": "json",
        "BILLING_SYNC_SCHEDULER_TICK": "0.2",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return {**env, **extra}


class Processes:
    """billing-sync processes a test starts; all are ended (and their logs kept) afterwards."""

    def __init__(self, settings, tmp_path: Path) -> None:
        self.settings, self.tmp_path = settings, tmp_path
        self.started: dict[str, subprocess.Popen] = {}

    def start(self, name: str, *args: str, **env: str) -> subprocess.Popen:
        log = open(self.tmp_path / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            tied_to_parent("-m", "billing_sync.cli", *args),
            env=process_env(self.settings, self.tmp_path, **env),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so a kill takes everything
        )
        self.started[name] = process
        return process

    def worker(self, name: str, *args: str, **env: str) -> subprocess.Popen:
        return self.start(name, "worker", *args, **env)

    def log(self, name: str) -> str:
        return (self.tmp_path / f"{name}.log").read_text()

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        process = self.started[name]
        if process.poll() is None:
            os.killpg(process.pid, sig)
        try:
            return process.wait(timeout)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)

    def stop_all(self) -> None:
        for name in list(self.started):
            self.stop(name)


@pytest.fixture
def processes(fleet_settings, tmp_path):
    started = Processes(fleet_settings, tmp_path)
    yield started
    started.stop_all()


def wait_for(condition, timeout: float = 60.0, every: float = 0.1, what: str = "condition"):
    """Poll until `condition()` is truthy; its value, or an AssertionError naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(every)
    raise AssertionError(f"{what} not met within {timeout} s")

"""Prometheus metrics: counters where things happen, gauges read at scrape time.

Counters (runs, items, ConnectWise requests) live in the process that does the work. With
BILLING_SYNC_METRICS_DIR set, every process on the host writes them to files there
(prometheus_client's multiprocess mode) and any /metrics sums them; without it, /metrics shows
its own process, which in the embedded layout is everything. Gauges (queue depth, open intents,
month closes not done) are computed from the database and Redis when scraped: they are true
whichever process answers.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    values,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

from billing_sync.settings import Settings

CW_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_lock = threading.Lock()
_counters: _Counters | None = None
_registry = CollectorRegistry(auto_describe=True)  # this process's counters (single-process)


@dataclass(frozen=True)
class _Counters:
    runs: Counter
    items: Counter
    cw_requests: Counter
    cw_seconds: Histogram
    cw_rate_limited: Counter


def configure(settings: Settings) -> None:
    """Pick single- or multi-process counters; call at process start, before counting."""
    global _counters
    if settings.metrics_dir is None:
        return
    settings.metrics_dir.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(settings.metrics_dir)
    # prometheus_client chooses how values are stored when it is first imported (from that
    # variable); choose again now that the folder is known. Counters are made after this.
    values.ValueClass = values.get_value_class()
    with _lock:
        _counters = None


def _get() -> _Counters:
    global _counters
    with _lock:
        if _counters is None:
            disable_created_metrics()  # *_created series only add noise to counters
            multi = "PROMETHEUS_MULTIPROC_DIR" in os.environ
            registry = None if multi else _registry
            _counters = _Counters(
                runs=Counter(
                    "billing_sync_runs",
                    "Runs ended, by trigger and status",
                    ["trigger", "status"],
                    registry=registry,
                ),
                items=Counter(
                    "billing_sync_run_items",
                    "Run ledger items recorded, by action",
                    ["action"],
                    registry=registry,
                ),
                cw_requests=Counter(
                    "billing_sync_cw_requests",
                    "ConnectWise requests, by method and final HTTP status (error: no answer)",
                    ["method", "status"],
                    registry=registry,
                ),
                cw_seconds=Histogram(
                    "billing_sync_cw_request_duration_seconds",
                    "ConnectWise request time, retries included",
                    ["method"],
                    buckets=CW_BUCKETS,
                    registry=registry,
                ),
                cw_rate_limited=Counter(
                    "billing_sync_cw_rate_limited",
                    "429 answers from ConnectWise, retried or not",
                    registry=registry,
                ),
            )
        return _counters


def count_run(trigger: str, status: str, actions: Mapping[str, int]) -> None:
    """A run ended with `status`; `actions` counts its ledger items by action."""
    counters = _get()
    counters.runs.labels(trigger, status).inc()
    for action, count in actions.items():
        if count:
            counters.items.labels(action).inc(count)


def count_cw_request(method: str, status: int | str, seconds: float) -> None:
    """One ConnectWise call (with its retries) and how long it took."""
    counters = _get()
    counters.cw_requests.labels(method, str(status)).inc()
    counters.cw_seconds.labels(method).observe(seconds)


def count_rate_limited() -> None:
    """ConnectWise answered 429."""
    _get().cw_rate_limited.inc()


class _Collect:
    """Adapts a function returning metric families to prometheus_client's collector protocol."""

    def __init__(self, collect: Callable[[], Iterable[Metric]]) -> None:
        self.collect = collect


def exposition(
    settings: Settings, gauges: Callable[[], Iterable[Metric]] | None = None
) -> tuple[bytes, str]:
    """The /metrics body and content type: counters (of every process, when shared) + gauges."""
    registry = CollectorRegistry()
    if settings.metrics_dir is not None and settings.metrics_dir.is_dir():
        MultiProcessCollector(registry, path=str(settings.metrics_dir))
    else:
        registry.register(_Collect(_registry.collect))
    if gauges is not None:
        registry.register(_Collect(gauges))
    return generate_latest(registry), CONTENT_TYPE_LATEST

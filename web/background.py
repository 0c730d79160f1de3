"""Background threads that carry out "Sync now" runs begun in a request."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class RunThreads:
    """Starts one daemon thread per run and remembers it, so tests and shutdown can wait."""

    def __init__(self) -> None:
        self._threads: dict[int, threading.Thread] = {}
        self._lock = threading.Lock()

    def start(self, run_id: int, work: Callable[[], object]) -> None:
        """Run `work` in a daemon thread; an exception is logged, the run row tells the rest."""

        def target() -> None:
            try:
                work()
            except Exception:
                log.exception("background sync run %s failed", run_id)

        thread = threading.Thread(target=target, name=f"sync-run-{run_id}", daemon=True)
        with self._lock:
            self._threads = {k: t for k, t in self._threads.items() if t.is_alive()}
            self._threads[run_id] = thread
        thread.start()

    def join(self, timeout: float | None = None) -> None:
        """Wait for every started run (tests, orderly shutdown)."""
        with self._lock:
            threads = list(self._threads.values())
        for thread in threads:
            thread.join(timeout)

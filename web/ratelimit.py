"""A small in-memory limiter for failed logins, keyed by client address and e-mail."""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable

UNITS = {"s": 1, "m": 60, "h": 3600}
RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smh])\s*$")
MAX_KEYS = 10_000


def parse_rate(text: str) -> tuple[int, float]:
    """ "10/5m" -> (10 attempts, 300 seconds)."""
    match = RATE.match(text)
    if not match or int(match.group(1)) < 1:
        raise ValueError(f"rate {text!r} is not of the form N/[M]s|m|h, e.g. 10/5m")
    count, span, unit = match.groups()
    return int(count), int(span or 1) * UNITS[unit]


class AttemptLimiter:
    """Allows `limit` failures per key in a sliding `window` (seconds); one process only."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic):
        self.limit, self.window, self.clock = limit, window, clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_rate(cls, text: str) -> AttemptLimiter:
        """A limiter for a rate such as settings.login_rate_limit."""
        return cls(*parse_rate(text))

    def _recent(self, key: str, at: float) -> deque[float]:
        failures = self._failures.get(key, deque())
        while failures and failures[0] <= at - self.window:
            failures.popleft()
        return failures

    def retry_after(self, key: str) -> float:
        """Seconds until `key` may try again; 0 when it may try now."""
        with self._lock:
            at = self.clock()
            failures = self._recent(key, at)
            if len(failures) < self.limit:
                return 0.0
            return failures[0] + self.window - at

    def record_failure(self, key: str) -> None:
        """Count one failed attempt."""
        with self._lock:
            at = self.clock()
            if len(self._failures) >= MAX_KEYS:
                # Bounded memory: forget keys whose failures all fell out of the window.
                self._failures = {k: v for k, v in self._failures.items() if self._recent(k, at)}
            failures = self._recent(key, at)
            failures.append(at)
            self._failures[key] = failures

    def reset(self, key: str) -> None:
        """Forget a key's failures (after a successful login)."""
        with self._lock:
            self._failures.pop(key, None)

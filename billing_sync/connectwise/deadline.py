"""A total deadline for every ConnectWise call, kept by one watchdog thread.

requests' timeout bounds each socket operation (a connect, one read), never a whole call: a server
that sends one byte a second never trips it. So each call here runs under a `Call` with a
monotonic deadline; the connections it uses register their sockets with it, and a watchdog thread
shuts those sockets down when the deadline passes. Whatever was blocked (TLS handshake, status
line, headers, body) then returns at once, and urllib3's retries refuse to start past it.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3 import poolmanager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_local = threading.local()


class Call:
    """One call under way: its deadline, whether a request byte may have left, its sockets."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.expired = False
        self.sent = False
        self.done = False
        self._lock = threading.Lock()
        self._handles: list[tuple[socket.socket, Any]] = []

    def remaining(self) -> float:
        """Seconds left (negative once the deadline has passed)."""
        return self.deadline - time.monotonic()

    def watch(self, conn: Any, sock: socket.socket) -> None:
        """Take `conn` for this call and keep a duplicate of its socket to shut down at expiry."""
        conn._billing_sync_call = self
        try:
            handle = socket.socket(fileno=os.dup(sock.fileno()))
        except OSError:
            return  # already closed: nothing left to unblock
        with self._lock:
            if self.done:
                handle.close()
                return
            self._handles.append((handle, conn))
            if self.expired:
                _shut(handle)

    def expire(self) -> None:
        """The deadline passed: shut down every connection this call still holds."""
        with self._lock:  # shutdowns under the lock: finish() cannot close a handle meanwhile
            if self.done:
                return
            self.expired = True
            for handle, conn in self._handles:
                # A connection handed back to the pool and taken by another call is left alone.
                if getattr(conn, "_billing_sync_call", None) is self:
                    _shut(handle)

    def finish(self) -> None:
        """The call is over: release the duplicates; a later expiry does nothing."""
        with self._lock:
            self.done = True
            handles, self._handles = self._handles, []
        for handle, _conn in handles:
            handle.close()


def _shut(handle: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already gone
        handle.shutdown(socket.SHUT_RDWR)  # acts on the connection, not just this descriptor


class _Watchdog:
    """One daemon thread that expires calls at their deadlines (a heap, earliest first)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Call]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, call: Call) -> None:
        with self._cond:
            if len(self._heap) > 4096:  # finished calls wait for their deadline; drop them early
                self._heap = [entry for entry in self._heap if not entry[2].done]
                heapq.heapify(self._heap)
            heapq.heappush(self._heap, (call.deadline, next(self._order), call))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="connectwise-deadlines", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        with self._cond:
            while True:
                while self._heap and (
                    self._heap[0][2].done or self._heap[0][0] <= time.monotonic()
                ):
                    heapq.heappop(self._heap)[2].expire()
                wait = self._heap[0][0] - time.monotonic() if self._heap else None
                self._cond.wait(wait)


_watchdog = _Watchdog()


def _after_fork() -> None:
    global _watchdog
    _watchdog = _Watchdog()  # the parent's thread and lock do not exist in a forked child


os.register_at_fork(after_in_child=_after_fork)


def current_call() -> Call | None:
    """The call this thread is making, if any."""
    return getattr(_local, "call", None)


@contextmanager
def deadline(at: float) -> Iterator[Call]:
    """Run the block as one call that must be over by `at` (a time.monotonic() instant)."""
    call = Call(at)
    outer = current_call()
    _local.call = call
    _watchdog.add(call)
    try:
        yield call
    finally:
        call.finish()
        _local.call = outer


class _Watched:
    """urllib3 connection mixin: connect within the time left, register sockets with the call."""

    def _new_conn(self) -> socket.socket:
        call = current_call()
        if call is not None:  # a retry's connect gets only what is left of the call
            left = max(0.001, call.remaining())
            given = self.timeout if isinstance(self.timeout, int | float) else left
            self.timeout = min(given, left)
        sock = super()._new_conn()
        if call is not None:
            call.watch(self, sock)  # before any TLS handshake: that can be dripped too
        return sock

    def send(self, data: Any) -> None:
        call = current_call()
        if call is not None:
            if call.remaining() <= 0:
                raise TimeoutError("the call's deadline passed before this was sent")
            if self.sock is None and self.auto_open:
                self.connect()
            if getattr(self, "_billing_sync_call", None) is not call:
                call.watch(self, self.sock)  # a kept-alive connection, reused by this call
            call.sent = True
        super().send(data)


class WatchedHTTPConnection(_Watched, HTTPConnection):
    """HTTP connection kept to the current call's deadline."""


class WatchedHTTPSConnection(_Watched, HTTPSConnection):
    """HTTPS connection kept to the current call's deadline."""


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = WatchedHTTPSConnection


POOL_CLASSES = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class DeadlineAdapter(HTTPAdapter):
    """requests adapter whose connections (direct or through an HTTP proxy) obey call deadlines."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = POOL_CLASSES

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        # A SOCKS manager brings its own connection classes; only per-read timeouts bound those.
        if manager.pool_classes_by_scheme is poolmanager.pool_classes_by_scheme:
            manager.pool_classes_by_scheme = POOL_CLASSES
        return manager

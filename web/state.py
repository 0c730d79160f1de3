"""Per-app state (settings, session factory, limiter, background runs) and the request session."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from flask import Flask, current_app, g
from flask_limiter import Limiter
from sqlalchemy.orm import Session, sessionmaker

from billing_sync.launch import InProcess, Launcher, Queued
from billing_sync.queue.client import RunQueue
from billing_sync.settings import Settings
from web.background import RunThreads

CW_CALLS_PER_PARTNER = 2  # ConnectWise calls one partner's pages may wait on at once


def utcnow() -> datetime:
    """The current instant; pages read time only through `now()` so tests can pin it."""
    return datetime.now(UTC)


class PartnerSlots:
    """How many ConnectWise calls each partner's pages have in flight in this process, capped,
    so one partner's slow ConnectWise cannot take every request thread."""

    def __init__(self, per_partner: int) -> None:
        self.per_partner = per_partner
        self._lock = threading.Lock()
        self._busy: Counter[int] = Counter()

    @contextmanager
    def hold(self, partner_id: int) -> Iterator[bool]:
        """Take a slot for the block; yields False (holding nothing) when all are taken."""
        with self._lock:
            free = self._busy[partner_id] < self.per_partner
            if free:
                self._busy[partner_id] += 1
        try:
            yield free
        finally:
            if free:
                with self._lock:
                    self._busy[partner_id] -= 1
                    if not self._busy[partner_id]:
                        del self._busy[partner_id]


@dataclass
class AppState:
    """What the app was built with; kept in app.extensions, never in module globals."""

    settings: Settings
    session_factory: sessionmaker[Session]
    limiter: Limiter
    runs: RunThreads = field(default_factory=RunThreads)
    cw_slots: PartnerSlots = field(default_factory=lambda: PartnerSlots(CW_CALLS_PER_PARTNER))
    clock: Callable[[], datetime] = utcnow
    stop_scheduler: Callable[[], None] | None = None
    queue: RunQueue | None = None  # set: runs are jobs for workers; this process only enqueues


def state() -> AppState:
    """The current app's state."""
    return current_app.extensions["billing_sync"]


def now() -> datetime:
    """The current instant as the app's clock tells it."""
    return state().clock()


def launcher() -> Launcher:
    """Where a run started by a page goes: the job queue, or a thread of this process."""
    app_state = state()
    if app_state.queue is not None:
        return Queued(app_state.queue)
    return InProcess(
        app_state.runs.start,
        app_state.session_factory,
        app_state.settings,
        clock=lambda: app_state.clock(),
    )


def db() -> Session:
    """This request's database session, opened on first use and closed at teardown."""
    if "db" not in g:
        g.db = state().session_factory()
    return g.db


def _close_db(_exc: BaseException | None) -> None:
    session = g.pop("db", None)
    if session is not None:
        session.close()


def init_app(app: Flask, app_state: AppState) -> None:
    """Attach the state and the per-request session lifecycle to the app."""
    app.extensions["billing_sync"] = app_state
    app.teardown_appcontext(_close_db)

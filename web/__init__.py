"""The Flask web app: thin pages over billing_sync, built by `create_app(settings)`."""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import Session, sessionmaker

from billing_sync.db import make_engine, make_session_factory
from billing_sync.queue.client import RunQueue
from billing_sync.settings import Settings
from web import api, auth, errors, filters, hardening, ops, ratelimit
from web.state import AppState
from web.state import init_app as init_state

log = logging.getLogger(__name__)


def _blueprints():
    from web import (
        agreements,
        checklist,
        companies,
        connection,
        dashboard,
        health,
        holds,
        orphans,
        products,
        rollbacks,
        rules,
        runs,
        schedule,
        sync,
        tokens,
        usage,
        worklist,
    )

    return (
        dashboard.bp,
        connection.bp,
        products.bp,
        companies.bp,
        agreements.bp,
        orphans.bp,
        schedule.bp,
        sync.bp,
        runs.bp,
        rollbacks.bp,
        usage.bp,
        tokens.bp,
        worklist.bp,
        health.bp,
        holds.bp,
        rules.bp,
        checklist.bp,
    )


def _configure(app: Flask, settings: Settings) -> None:
    secure = settings.session_cookie_secure
    app.config.update(
        SECRET_KEY=settings.require_secret(),
        SESSION_COOKIE_SECURE=secure,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_hours),
        MAX_CONTENT_LENGTH=32 * 1024 * 1024,  # a seats CSV of a large partner, not more
        WTF_CSRF_TIME_LIMIT=None,  # tokens live as long as the session; a new one at sign-in
    )


def _start_scheduler(app_state: AppState) -> None:
    try:
        from billing_sync.scheduler import start_scheduler_thread
    except ImportError:
        log.warning("scheduler thread not available in this build; scheduled runs are off")
        return
    app_state.stop_scheduler = start_scheduler_thread(app_state.settings, app_state.session_factory)


def create_app(
    settings: Settings,
    *,
    session_factory: sessionmaker[Session] | None = None,
    start_scheduler: bool = False,
) -> Flask:
    """Build the partner admin app; the scheduler thread only when asked for."""
    app = Flask(__name__)
    _configure(app, settings)
    if session_factory is None:
        session_factory = make_session_factory(make_engine(settings.database_url))
    hardening.init_app(app)  # the id converter before any route; the input check runs first
    auth.init_app(app)  # the sign-in guard runs before the CSRF check
    limiter = ratelimit.init_app(app, settings)
    queue = RunQueue.from_settings(settings) if settings.redis_url else None
    app_state = AppState(
        settings=settings, session_factory=session_factory, limiter=limiter, queue=queue
    )
    init_state(app, app_state)
    ops.init_app(app)
    csrf = CSRFProtect(app)
    for blueprint in _blueprints():
        app.register_blueprint(blueprint)
    api.init_app(app, app_state, csrf)
    errors.init_app(app)
    filters.init_app(app)
    if start_scheduler:
        _start_scheduler(app_state)
    return app

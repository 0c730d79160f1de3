"""For operators and their probes, no login: /healthz, /readyz, /metrics (no secrets in any)."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, g, jsonify
from flask_login import current_user

from billing_sync import health, metrics
from billing_sync.logs import bind, unbind
from web.state import now, state

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz():
    """The process answers (a liveness probe: restart it when this fails)."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """The database and, when configured, Redis answer; 503 naming what does not."""
    app_state = state()
    checks = health.readiness(app_state.session_factory, app_state.queue)
    ready = all(value == "ok" for value in checks.values())
    return jsonify(status="ready" if ready else "not ready", checks=checks), 200 if ready else 503


@bp.get("/metrics", endpoint="metrics")
def metrics_page():
    """Prometheus text: counters of every process (with a metrics folder) and live gauges."""
    app_state = state()
    settings = app_state.settings
    body, content_type = metrics.exposition(
        settings,
        lambda: health.gauges(
            app_state.session_factory, app_state.queue, now(), settings.month_close_stuck_after
        ),
    )
    return Response(body, content_type=content_type)


def _bind_partner() -> None:
    # Log lines of a signed-in request name its partner.
    if current_user and current_user.is_authenticated:
        g.log_tokens = bind(partner_id=current_user.partner_id)


def _unbind_partner(_exc: BaseException | None) -> None:
    tokens = g.pop("log_tokens", None)
    if tokens is not None:
        unbind(tokens)


def init_app(app: Flask) -> None:
    """Register the probes and tag request log lines with the partner."""
    app.register_blueprint(bp)
    app.before_request(_bind_partner)
    app.teardown_request(_unbind_partner)

"""Check now: a preview run reads ConnectWise in the background and records every health."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, url_for

from billing_sync.launch import start_run
from billing_sync.queue.client import QueueUnavailable
from web.common import partner_id
from web.state import launcher, now, state

bp = Blueprint("health", __name__, url_prefix="/health")


@bp.post("/check")
def check_now():
    """Start a preview (it writes nothing) whose reads record every mapped company's health."""
    app_state = state()
    try:
        started = start_run(
            app_state.session_factory,
            app_state.settings,
            launcher(),
            partner_id(),
            now=now(),
            trigger="manual",
            dry_run=True,
        )
    except QueueUnavailable as exc:
        flash(f"The health check could not be started: {exc}", "error")
        return redirect(url_for("companies.index"))
    flash(
        "Health check started: a preview reads ConnectWise and records every mapped company's "
        "health; the companies list shows it when the preview is done.",
        "success",
    )
    return redirect(url_for("sync.show_preview", run_id=started.run_id))

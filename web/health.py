"""Check now: a preview run reads ConnectWise in the background and records every health."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, url_for

from billing_sync.queue.client import QueueUnavailable
from web.sync import begin_preview

bp = Blueprint("health", __name__, url_prefix="/health")


@bp.post("/check")
def check_now():
    """Start a preview (it writes nothing) whose reads record every mapped company's health."""
    try:
        started = begin_preview()
    except QueueUnavailable as exc:
        flash(f"The health check could not be started: {exc}", "error")
        return redirect(url_for("companies.index"))
    flash(
        "Health check started: a preview reads ConnectWise and records every mapped company's "
        "health; the companies list shows it when the preview is done.",
        "success",
    )
    return redirect(url_for("sync.show_preview", run_id=started.run_id))

"""Preview (a dry run shown as a table), Apply and Sync now (real runs in the background)."""

from __future__ import annotations

import json

from flask import Blueprint, flash, redirect, render_template, url_for

from billing_sync import page_queries, previews
from billing_sync.errors import RunInProgress
from billing_sync.launch import start_run
from billing_sync.queue.client import QueueUnavailable
from web.common import id_arg, page_arg, partner, partner_id
from web.state import db, launcher, now, state

bp = Blueprint("sync", __name__, url_prefix="/sync")
INTEGRATION_OFF = (
    "The ConnectWise integration is off, so no sync was started and nothing was written. "
    "Turn it on on the Connection page to sync; Preview works while it is off."
)


@bp.get("/")
def index():
    """The preview and Sync now buttons."""
    return render_template("sync.html", partner=partner())


def begin_preview():
    """Start the signed-in partner's preview (a thread, or a job for workers); its StartedRun."""
    app_state = state()
    return start_run(
        app_state.session_factory,
        app_state.settings,
        launcher(),
        partner_id(),
        now=now(),
        trigger="manual",
        dry_run=True,
    )


@bp.post("/preview")
def preview():
    """Compute what a run would change, write nothing to ConnectWise, and show it.

    Embedded, the preview is computed in this request; with workers it is a job and the page
    shows it queued, then running, then the table.
    """
    try:
        started = begin_preview()
    except QueueUnavailable as exc:
        flash(f"The preview could not be started: {exc}", "error")
        return redirect(url_for(".index"))
    return redirect(url_for(".show_preview", run_id=started.run_id))


@bp.get("/preview/<id:run_id>")
def show_preview(run_id: int):
    """A preview's table: company, agreement, product, quantity before -> after, action, problem."""
    run = page_queries.get_run(db(), partner_id(), run_id)
    if not run.dry_run:
        return redirect(url_for("runs.detail", run_id=run.id))
    if run.rollback_of_run_id is not None:  # a rollback's preview is confirmed on its own page
        return redirect(url_for("rollbacks.confirm", run_id=run.rollback_of_run_id, preview=run.id))
    items = page_queries.run_items(db(), partner_id(), run.id, page=page_arg(), per_page=500)
    return render_template(
        "preview.html",
        run=run,
        items=items,
        partner=partner(),
        counts=page_queries.action_counts(db(), partner_id(), run.id),
        warnings=json.loads(run.warnings) if run.warnings else [],
        left_out=previews.left_out(run),
        since=previews.since_preview(db(), partner_id(), run),
    )


def _start(trigger: str, preview_run_id: int | None = None):
    app_state = state()
    if not partner().integration_enabled:
        # Said here, not by a run refused a moment later behind a green "Sync started".
        flash(INTEGRATION_OFF, "error")
        return redirect(url_for(".index"))
    try:
        started = start_run(
            app_state.session_factory,
            app_state.settings,
            launcher(),
            partner_id(),
            now=now(),
            trigger=trigger,
            preview_run_id=preview_run_id,
        )
    except RunInProgress as exc:
        flash(f"A sync is already running; nothing new was started. ({exc})", "error")
        return redirect(url_for("runs.index"))
    except QueueUnavailable as exc:
        flash(f"The sync could not be started: {exc}", "error")
        return redirect(url_for("runs.index"))
    flash("Sync queued." if started.status == "queued" else "Sync started.", "success")
    return redirect(url_for("runs.detail", run_id=started.run_id))


@bp.post("/apply")
def apply():
    """Carry out what the preview showed; items that moved since are re-planned and marked."""
    preview_id = id_arg("preview_id", form=True)
    if preview_id is not None:
        preview = page_queries.get_run(db(), partner_id(), preview_id)  # 404 if not ours
        # Only a sync's preview is applied; a rollback's is confirmed on the rollback page.
        preview_id = preview.id if preview.dry_run and not preview.rollback_of_run_id else None
    return _start("manual", preview_id)


@bp.post("/now")
def sync_now():
    """Start a real run in the background; a second click while it runs starts nothing."""
    return _start("manual")

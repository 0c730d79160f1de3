"""Roll a run back from its page: preview what would be put back, confirm, start (admins only)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for

from billing_sync import page_queries
from billing_sync.errors import Conflict, InvalidInput, NotFoundError, RunInProgress
from billing_sync.launch import start_run
from billing_sync.queue.client import QueueUnavailable
from billing_sync.sync.rollback import NEXT_RUN, TRIGGER, rollback_target
from web.common import id_arg, page_arg, partner, partner_id
from web.state import db, launcher, now, state

# Not a viewer blueprint: every page here is an admin's action (web/auth.py).
bp = Blueprint("rollbacks", __name__, url_prefix="/runs")


def _start(run_id: int, *, dry_run: bool):
    """Begin a rollback of the run (or its preview) where runs go: a thread or a worker."""
    app_state = state()
    rollback_target(db(), partner_id(), run_id)  # the one-line reason it cannot be, if any
    return start_run(
        app_state.session_factory,
        app_state.settings,
        launcher(),
        partner_id(),
        now=now(),
        trigger=TRIGGER,
        dry_run=dry_run,
        rollback_of_run_id=run_id,
    )


@bp.post("/<id:run_id>/rollback/preview")
def preview(run_id: int):
    """Compute what rolling the run back would do, writing nothing, and show it to confirm."""
    page_queries.get_run(db(), partner_id(), run_id)  # another partner's run: 404
    try:
        started = _start(run_id, dry_run=True)
    except (InvalidInput, Conflict, QueueUnavailable) as exc:
        flash(f"Cannot roll back run {run_id}: {exc}", "error")
        return redirect(url_for("runs.detail", run_id=run_id))
    return redirect(url_for(".confirm", run_id=run_id, preview=started.run_id))


@bp.get("/<id:run_id>/rollback")
def confirm(run_id: int):
    """The preview of a rollback, and the button that carries it out."""
    run = page_queries.get_run(db(), partner_id(), run_id)
    preview_id = id_arg("preview")
    if preview_id is None:
        abort(404)
    preview_run = page_queries.get_run(db(), partner_id(), preview_id)
    if not preview_run.dry_run or preview_run.rollback_of_run_id != run.id:
        raise NotFoundError(f"no rollback preview {preview_id} of run {run.id}")
    items = page_queries.run_items(db(), partner_id(), preview_run.id, page=page_arg())
    return render_template(
        "rollback.html",
        run=run,
        preview=preview_run,
        items=items,
        counts=page_queries.action_counts(db(), partner_id(), preview_run.id),
        partner=partner(),
        next_run=NEXT_RUN,
    )


@bp.post("/<id:run_id>/rollback")
def start(run_id: int):
    """Start the rollback: a run of its own, shown on its page as it goes."""
    page_queries.get_run(db(), partner_id(), run_id)
    if not partner().integration_enabled:
        flash("The ConnectWise integration is off, so nothing was rolled back.", "error")
        return redirect(url_for("runs.detail", run_id=run_id))
    try:
        started = _start(run_id, dry_run=False)
    except (InvalidInput, Conflict, QueueUnavailable) as exc:
        flash(f"Cannot roll back run {run_id}: {exc}", "error")
        return redirect(url_for("runs.detail", run_id=run_id))
    except RunInProgress as exc:
        flash(f"A sync is already running; nothing was rolled back. ({exc})", "error")
        return redirect(url_for("runs.detail", run_id=run_id))
    begun = "queued" if started.status == "queued" else "started"
    flash(f"Rollback of run {run_id} {begun}. {NEXT_RUN}", "success")
    return redirect(url_for("runs.detail", run_id=started.run_id))

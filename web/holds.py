"""The Holds page: held writes to approve or reject, hand edits found, recent decisions."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from billing_sync import guard_queries, holds
from billing_sync.errors import Conflict, InvalidInput, NotFoundError, RunInProgress
from billing_sync.launch import start_run
from billing_sync.queue.client import QueueUnavailable
from billing_sync.validation import record_id
from web.common import partner, partner_id
from web.state import db, launcher, now, state

bp = Blueprint("holds", __name__, url_prefix="/holds")
MAX_IDS = 500  # one form never carries more rows than the page shows


@bp.app_context_processor
def _nav_count():
    """`open_hold_count()` for the nav link: counted only when a page shows the nav."""

    def open_hold_count() -> int:
        if not current_user.is_authenticated:
            return 0
        return guard_queries.open_hold_count(db(), partner_id())

    return {"open_hold_count": open_hold_count}


@bp.get("/")
def index():
    """Open holds, open drift, and the latest decisions."""
    return render_template(
        "holds.html",
        open_holds=guard_queries.open_hold_rows(db(), partner_id()),
        drift=guard_queries.open_drift(db(), partner_id()),
        decisions=guard_queries.recent_decisions(db(), partner_id()),
        shown_max=guard_queries.SHOWN_HOLDS,
    )


def _hold_ids() -> list[int]:
    """The hold ids a form names, or InvalidInput (a flash) when one is no id."""
    raw = request.form.getlist("hold_id")
    if not raw:
        raise InvalidInput("Choose a held change first; nothing was changed.")
    if len(raw) > MAX_IDS:
        raise InvalidInput(f"At most {MAX_IDS} held changes at once; nothing was changed.")
    return [record_id(value, "hold id") for value in raw]


def _back(decided: list | None):
    """Back to the page: 302 after a decision, 303 (the house's refused form) when none."""
    return redirect(url_for(".index"), code=302 if decided else 303)


def _decide(ids: list[int], decision: str) -> list | None:
    """Record the decision, or flash why not and change nothing (another partner's id: 404)."""
    try:
        decided = holds.decide(db(), partner_id(), ids, decision, by=current_user.email, now=now())
    except NotFoundError:
        db().rollback()
        raise
    except Conflict as exc:
        db().rollback()
        flash(f"{exc}. Reload to see the holds still open.", "error")
        return None
    db().commit()
    return decided


def _start_approval_run() -> str:
    """Start the run that writes what was approved; the words saying what became of it."""
    if not partner().integration_enabled:
        return (
            "The ConnectWise integration is off, so nothing was written yet: the first run "
            "after it is switched on writes the approved quantities."
        )
    app_state = state()
    try:
        start_run(
            app_state.session_factory,
            app_state.settings,
            launcher(),
            partner_id(),
            now=now(),
            trigger="approval",
        )
    except RunInProgress:
        return "A sync is running now: the approval is recorded and the next run writes it."
    except QueueUnavailable as exc:
        return f"The approval is recorded, but no run could start ({exc}): the next run writes it."
    return "A sync run was started to write it (ConnectWise is read again first)."


def _plural(n: int) -> str:
    return f"{n} held change" + ("" if n == 1 else "s")


@bp.post("/approve")
def approve():
    """Approve the chosen holds (all shown ones, once confirmed); start a run to write them."""
    try:
        # "Approve all" names the rows the page showed: a hold that arrived since is not
        # approved unseen.
        if request.form.get("all") and not request.form.get("confirm"):
            raise InvalidInput("Tick the confirmation to approve every held change.")
        ids = _hold_ids()
    except InvalidInput as exc:
        flash(str(exc), "error")
        return _back(None)
    decided = _decide(ids, "approved")
    if decided:
        flash(f"Approved {_plural(len(decided))}. {_start_approval_run()}", "success")
    return _back(decided)


@bp.post("/reject")
def reject():
    """Reject the chosen holds: ConnectWise keeps its quantity until the count changes again."""
    try:
        ids = _hold_ids()
    except InvalidInput as exc:
        flash(str(exc), "error")
        return _back(None)
    decided = _decide(ids, "rejected")
    if decided:
        flash(
            f"Rejected {_plural(len(decided))}: ConnectWise keeps its quantity until the "
            "count changes again.",
            "success",
        )
    return _back(decided)

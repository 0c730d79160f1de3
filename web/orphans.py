"""Orphans: additions nobody keeps, read live when the page opens; adopt or set to 0 (admins)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from billing_sync.connectwise.errors import ConnectWiseError
from billing_sync.crypto import SecretDecryptError
from billing_sync.errors import BillingSyncError
from billing_sync.orphans import KINDS, find_orphans
from billing_sync.sync.orphan_writes import OrphanAction, adopt_addition, zero_additions
from billing_sync.sync.runner import system_clock
from web.common import cw_problem, id_arg, page_client, partner_id
from web.state import db, now, state

bp = Blueprint("orphans", __name__, url_prefix="/orphans")
TITLES = {
    "unowned": "Not created by billing-sync",
    "left_behind": "Left behind by a remap or exclusion",
    "mapping_deleted": "Mapping deleted",
}


@bp.get("/")
def index():
    """The three kinds, from one bounded read of the relevant agreements (checked now)."""
    report, problem = None, None
    try:
        with page_client() as client:
            report, _facts = find_orphans(db(), client, partner_id(), now=now())
    except (BillingSyncError, SecretDecryptError) as exc:
        problem = str(exc)
    except ConnectWiseError as exc:
        problem = cw_problem(exc)
    groups = {kind: [] for kind in KINDS}
    for orphan in report.orphans if report else []:
        groups[orphan.kind].append(orphan)
    return render_template(
        "orphans.html", report=report, problem=problem, groups=groups, titles=TITLES
    )


def _act(work) -> str | None:
    """Run one orphan action with a page-bounded client; the run id, or None (flashed why)."""
    try:
        with page_client() as client:
            action = OrphanAction(
                state().session_factory,
                state().settings,
                partner_id(),
                now(),
                system_clock,
                client=client,
            )
            return work(action)
    except (BillingSyncError, SecretDecryptError) as exc:
        flash(str(exc), "error")
    except ConnectWiseError as exc:
        flash(cw_problem(exc), "error")
    return None


def _outcome(report, addition_id: int, verb: str) -> None:
    if report.status == "succeeded":
        flash(f"Addition {addition_id} {verb} (run {report.run_id}).", "success")
        return
    why = next((i.error for i in report.items if i.error), None) or report.message
    flash(f"Addition {addition_id}: {why} (run {report.run_id}, {report.status}).", "error")


@bp.post("/adopt")
def adopt():
    """Let billing-sync keep an addition it does not own."""
    addition_id = id_arg("addition_id", form=True)
    agreement_id = id_arg("agreement_id", form=True)
    if addition_id is None or agreement_id is None:
        flash("Choose an addition to adopt.", "error")
        return redirect(url_for(".index"), code=303)
    report = _act(lambda action: adopt_addition(action, addition_id, agreement_id))
    if report is not None:
        _outcome(report, addition_id, "is kept by billing-sync from now on")
    return redirect(url_for(".index"), code=303)


@bp.post("/zero")
def zero():
    """Set one orphan to quantity 0 (after the admin ticked the confirmation)."""
    addition_id = id_arg("addition_id", form=True)
    agreement_id = id_arg("agreement_id", form=True)
    if addition_id is None or agreement_id is None:
        flash("Choose an addition to set to 0.", "error")
        return redirect(url_for(".index"), code=303)
    if request.form.get("confirm") != "1":
        flash(f"Tick the confirmation to set addition {addition_id} to 0.", "error")
        return redirect(url_for(".index"), code=303)
    report = _act(lambda action: zero_additions(action, [addition_id], agreements={agreement_id}))
    if report is not None:
        _outcome(report, addition_id, "is set to 0 in ConnectWise")
    return redirect(url_for(".index"), code=303)

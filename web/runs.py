"""Run history, a run's ledger filterable by action, and a JSON status for the progress poll."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template, request, url_for
from flask_login import current_user

from billing_sync import guard_queries, page_queries
from billing_sync.statements.service import StatementRequest, export_zip, run_scope
from billing_sync.sync.rollback import may_roll_back, rolled_back_by
from web.common import page_arg, partner_id
from web.state import db, now
from web.statement_files import download, format_arg

bp = Blueprint("runs", __name__, url_prefix="/runs")


@bp.get("/")
def index():
    """Runs newest first, with status and counts."""
    previews = request.args.get("previews") == "1"
    page = page_queries.runs_page(db(), partner_id(), page=page_arg(), include_previews=previews)
    return render_template("runs.html", page=page, previews=previews)


@bp.get("/<id:run_id>")
def detail(run_id: int):
    """One run and its ledger items, optionally one action only."""
    run = page_queries.get_run(db(), partner_id(), run_id)
    action = request.args.get("action", "")
    action = action if action in page_queries.ACTIONS else ""
    items = page_queries.run_items(
        db(), partner_id(), run.id, action=action or None, page=page_arg()
    )
    return render_template(
        "run_detail.html",
        run=run,
        items=items,
        action=action,
        counts=page_queries.action_counts(db(), partner_id(), run.id),
        actions=page_queries.ACTIONS,
        rollback=current_user.is_admin and may_roll_back(db(), partner_id(), run),
        rolled_back_by=rolled_back_by(db(), partner_id(), run.id),
        run_holds=guard_queries.run_holds(db(), partner_id(), run.id),
        run_drift=guard_queries.run_drift(db(), partner_id(), run.id),
    )


@bp.get("/<id:run_id>/status.json")
def status(run_id: int):
    """Progress of a run, polled by the run page while it is running."""
    run = page_queries.get_run(db(), partner_id(), run_id)
    return jsonify(
        id=run.id,
        status=run.status,
        done_items=run.done_items,
        total_items=run.total_items,
        message=run.message,
        url=url_for(".detail", run_id=run.id),
    )


@bp.get("/<id:run_id>/statements")
def statements(run_id: int):
    """A zip of the statements of the companies in a real run, for the month it pushed."""
    period, company_ids = run_scope(db(), partner_id(), run_id)
    wanted = StatementRequest(
        partner_id(), period, format_arg(), now(), tuple(company_ids), label=f"run-{run_id}"
    )
    return download(lambda out: export_zip(db(), wanted, out))

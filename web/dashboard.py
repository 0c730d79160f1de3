"""The start page: integration status, last run, next run, mapping figures, open problems, holds."""

from __future__ import annotations

from flask import Blueprint, render_template

from billing_sync import guard_queries, mapping_health_store, page_queries
from web.common import partner_id
from web.state import db

bp = Blueprint("dashboard", __name__)


@bp.get("/")
def index():
    """Show the partner's dashboard."""
    return render_template(
        "dashboard.html",
        d=page_queries.dashboard(db(), partner_id()),
        guard=guard_queries.guard_summary(db(), partner_id()),
        health=mapping_health_store.summary(db(), partner_id()),
    )

"""The invoice checklist: its dashboard panel and the full list, read-only for every role."""

from __future__ import annotations

from flask import Blueprint, render_template

from billing_sync.checklist_queries import Checklist, partner_checklist
from billing_sync.page_queries import Page
from web.common import page_arg, partner
from web.state import db, now

bp = Blueprint("checklist", __name__, url_prefix="/checklist")
PER_PAGE = 50  # the full list; the dashboard panel shows the first 20


@bp.app_template_global("invoice_checklist")
def panel() -> Checklist:
    """The signed-in partner's checklist, for the dashboard's panel (computed when it renders).

    A template global rather than a dashboard argument: the panel is one include line.
    """
    return partner_checklist(db(), partner(), now())


@bp.get("/")
def index():
    """Every agreement invoicing in the window, a page at a time."""
    checklist = partner_checklist(db(), partner(), now())
    number = page_arg()
    lines = checklist.lines[(number - 1) * PER_PAGE : number * PER_PAGE]
    return render_template(
        "checklist.html",
        checklist=checklist,
        page=Page(lines, len(checklist.lines), number, PER_PAGE),
    )

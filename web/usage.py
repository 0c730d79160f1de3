"""Usage: month-end counts per product over the last 12 months, and the seats CSV upload."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from billing_sync import page_queries
from billing_sync.statements.service import (
    StatementRequest,
    export_company,
    export_zip,
    recent_months,
)
from billing_sync.usage import UsageImportError, import_usage_csv
from web.auth import admin_only
from web.charts import line_chart
from web.common import page_arg, partner, partner_id, recalled, refused, search_arg
from web.state import db, now
from web.statement_files import download, format_arg, month_arg

bp = Blueprint("usage", __name__, url_prefix="/usage")
# A rejected file's problems travel to the page in the session cookie (about 4 KB at most):
# the first few, each cut short; the count says how many more there are.
LISTED_PROBLEMS = 20
PROBLEM_CHARS = 120


def _chart(company_id: int | None = None):
    history = page_queries.usage_history(
        db(), partner_id(), partner().timezone, now=now(), company_id=company_id
    )
    labels = [str(p) for p in history.periods]
    chart = line_chart(labels, history.series, title="Month-end users per product")
    return history, chart


@bp.get("/")
def index():
    """All companies' month-end counts, and a searchable list to open one company."""
    history, chart = _chart()
    search = search_arg()
    companies = page_queries.company_list(db(), partner_id(), search=search, page=page_arg())
    return render_template(
        "usage.html",
        history=history,
        chart=chart,
        companies=companies,
        search=search,
        months=recent_months(now(), partner().timezone),
    )


@bp.get("/companies/<id:company_id>")
def company(company_id: int):
    """One company's month-end counts per product."""
    found = page_queries.get_company(db(), partner_id(), company_id)
    history, chart = _chart(found.id)
    return render_template(
        "usage_company.html",
        company=found,
        history=history,
        chart=chart,
        months=recent_months(now(), partner().timezone),
    )


@bp.get("/statements")
def statements():
    """A zip of the month's statements: one CSV or PDF per company with seats or writes."""
    wanted = StatementRequest(partner_id(), month_arg(), format_arg(), now())
    return download(lambda out: export_zip(db(), wanted, out))


@bp.get("/companies/<id:company_id>/statement")
def company_statement(company_id: int):
    """One company's statement for the month, as CSV or PDF."""
    found = page_queries.get_company(db(), partner_id(), company_id)
    wanted = StatementRequest(partner_id(), month_arg(), format_arg(), now(), (found.id,))
    return download(lambda out: export_company(db(), wanted, out))


@bp.route("/upload", methods=["GET", "POST"])
@admin_only
def upload():
    """Import a seats CSV: all rows or none; a rejection lists its first problems by line."""
    if request.method == "GET":
        back = recalled()
        return render_template(
            "usage_upload.html", errors=back.get("problems", []), more=back.get("more", 0)
        )
    file = request.files.get("file")
    if file is None or not file.filename:
        flash("Choose a CSV file to upload.", "error")
        return refused(url_for(".upload"))
    try:
        summary = import_usage_csv(db(), partner_id(), file.stream, now=now())
    except UsageImportError as exc:
        db().rollback()
        flash(f"The file was rejected: {exc.total:,} problem(s); nothing was imported.", "error")
        listed = exc.errors[:LISTED_PROBLEMS]
        problems = [{"line": e.line, "message": e.message[:PROBLEM_CHARS]} for e in listed]
        return refused(url_for(".upload"), problems=problems, more=exc.total - len(listed))
    db().commit()
    flash(
        f"Imported {summary.rows} rows: {summary.companies_created} new companies, "
        f"{summary.seats_created} new seats, {summary.seats_updated} updated, "
        f"{summary.seats_unchanged} unchanged.",
        "success",
    )
    return redirect(url_for(".index"))

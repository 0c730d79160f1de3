"""The unmatched worklist's actions: accept, not this one, choose, bulk accept, exclude selected."""

from __future__ import annotations

from flask import Blueprint, flash, jsonify, redirect, request, url_for

from billing_sync import page_queries, worklist_queries
from billing_sync.errors import InvalidInput
from billing_sync.suggestions import refresh_suggestions, reject_suggestion
from billing_sync.validation import whole_number
from billing_sync.worklist import (
    DEFAULT_MIN_SCORE,
    accept_suggestions,
    cached_company,
    current_suggestion,
    exclude_companies,
    map_to_cached,
    picked_company,
)
from web.common import id_arg, page_client, partner_id, saving, search_arg
from web.state import db, now

bp = Blueprint("worklist", __name__, url_prefix="/companies")
PICKED_LENGTH = 300  # a picker's text: a 255-character name, its id and some slack


def _worklist():
    return redirect(url_for("companies.index", tab="unmatched", q=search_arg(form=True) or None))


def _choose_agreement(company, cw) -> object:
    count = cw.active_agreements
    if count == 0:
        flash(f"{cw.name} has no active agreement: create one in ConnectWise first.", "error")
    else:
        flash(f"{cw.name} has {count} active agreements: choose the one that bills {company.name}.")
    return redirect(url_for("companies.edit", company_id=company.id, cw_company=cw.cw_company_id))


def _mapped(company, cw, mapping):
    flash(
        f"{company.name} is billed on agreement {mapping.agreement_name} of {cw.name}.", "success"
    )
    return _worklist()


def _required_cw_id() -> int:
    cw_company_id = id_arg("cw_company_id", form=True)
    if cw_company_id is None:
        raise InvalidInput("cw_company_id is missing")
    return cw_company_id


@bp.post("/suggestions/refresh")
def refresh():
    """Read ConnectWise's companies and agreements once and suggest a match for every company."""
    with saving() as outcome, page_client() as client:
        cached, ranked = refresh_suggestions(db(), partner_id(), client, now=now())
    if outcome.ok:
        flash(
            f"Read {cached} ConnectWise companies: {ranked} unmatched have a suggestion.", "success"
        )
    return _worklist()


@bp.post("/<id:company_id>/accept")
def accept(company_id: int):
    """One click: map the company to its suggested ConnectWise company's one active agreement."""
    company = page_queries.get_company(db(), partner_id(), company_id)
    cw_company_id = _required_cw_id()
    with saving() as outcome:
        current_suggestion(db(), company, cw_company_id)
        cw = cached_company(db(), partner_id(), cw_company_id)
        with page_client() as client:
            mapping = map_to_cached(db(), company, cw, client, matched_by="suggestion", now=now())
    if not outcome.ok:
        return _worklist()
    return _mapped(company, cw, mapping) if mapping else _choose_agreement(company, cw)


@bp.post("/<id:company_id>/reject")
def reject(company_id: int):
    """Not this one: never suggest that ConnectWise company for this company again."""
    company = page_queries.get_company(db(), partner_id(), company_id)
    cw_company_id = _required_cw_id()
    with saving() as outcome:
        current_suggestion(db(), company, cw_company_id)  # a second click rejects nothing more
        cw = cached_company(db(), partner_id(), cw_company_id)
        reject_suggestion(db(), partner_id(), company.id, cw_company_id, now=now())
    if outcome.ok:
        flash(f"{cw.name} will not be suggested for {company.name} again.", "success")
    return _worklist()


@bp.post("/<id:company_id>/choose")
def choose(company_id: int):
    """Map to the ConnectWise company picked in the drop-down (its agreement, or choose one)."""
    company = page_queries.get_company(db(), partner_id(), company_id)
    picked = request.form.get("cw_company", "")[:PICKED_LENGTH]
    with saving() as outcome:
        cw = picked_company(db(), partner_id(), picked)
        with page_client() as client:
            mapping = map_to_cached(db(), company, cw, client, matched_by="manual", now=now())
    if not outcome.ok:
        return _worklist()
    return _mapped(company, cw, mapping) if mapping else _choose_agreement(company, cw)


@bp.post("/suggestions/accept")
def accept_all():
    """Accept every suggestion at or above a score whose agreement is unambiguous."""
    raw = request.form.get("min_score", str(DEFAULT_MIN_SCORE))
    min_score = whole_number(raw, "the score", low=50, high=100)  # else a 400 page
    with saving() as outcome, page_client() as client:
        result = accept_suggestions(db(), partner_id(), client, min_score=min_score, now=now())
    if outcome.ok:
        flash(result.message(min_score), "success" if result.mapped else "warn")
    return _worklist()


@bp.post("/exclude-selected")
def exclude_selected():
    """Exclude the ticked companies, all or none (another partner's id: 404, nothing written)."""
    chosen = request.form.getlist("company")
    try:
        companies = exclude_companies(db(), partner_id(), chosen, now=now())
    except InvalidInput as refused:
        db().rollback()
        flash(str(refused), "error")
        return _worklist()
    db().commit()
    names = ", ".join(c.name for c in companies[:8]) + (" …" if len(companies) > 8 else "")
    counted = "1 company" if len(companies) == 1 else f"{len(companies)} companies"
    flash(f"Excluded {counted} from syncing: {names}.", "success")
    return _worklist()


@bp.get("/cw-options.json")
def cw_options():
    """The cached ConnectWise companies for the worklist's drop-downs, flagged when mapped."""
    options = worklist_queries.cw_options(db(), partner_id())
    response = jsonify([{"value": o.value, "note": o.note} for o in options])
    response.headers["Cache-Control"] = "private, no-cache"
    return response

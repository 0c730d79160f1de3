"""Agreement replacement (accept, dismiss) and "Create agreement" on the company page (admins)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import select

from billing_sync import agreement_creation, agreement_suggestions, page_queries
from billing_sync.agreement_terms import default_name, first_of_next_month, parse_start
from billing_sync.errors import Conflict, InvalidInput
from billing_sync.models import AgreementCreation, AgreementReplacement, CompanyMapping
from web.common import id_arg, page_client, partner, partner_id, saving
from web.state import db, now, state

bp = Blueprint("agreements", __name__, url_prefix="/agreements")
TEMPLATES_SHOWN = 200  # the datalist of agreements to copy from (any id may still be typed)


@dataclass(frozen=True)
class Panel:
    """What the company page shows about replacing or creating the company's agreement."""

    suggestion: AgreementReplacement | None
    new_start: date | None
    offer_create: bool
    creation: AgreementCreation | None
    templates: list[tuple[int, str]]
    default_name: str
    default_start: date
    today: date  # in the partner's zone: the earliest start the form allows


def _templates() -> list[tuple[int, str]]:
    """The partner's mapped agreements (id, name): a template is usually one of them."""
    rows = db().execute(
        select(CompanyMapping.agreement_id, CompanyMapping.agreement_name)
        .where(CompanyMapping.partner_id == partner_id(), CompanyMapping.agreement_id.is_not(None))
        .distinct()
        .order_by(CompanyMapping.agreement_name)
        .limit(TEMPLATES_SHOWN)
    )
    return [(agreement_id, name or "") for agreement_id, name in rows]


@bp.app_template_global("agreement_panel")
def agreement_panel(company, cw_company_id, agreements, problem) -> Panel:
    """The company page's agreement panel (its own partial): suggestion, creation, defaults."""
    suggestion = agreement_suggestions.open_for_company(db(), company.id)
    zone = ZoneInfo(partner().timezone)
    starts = {a.id: a.start_date for a in agreements}
    new_start = starts.get(suggestion.new_agreement_id) if suggestion else None
    offer = bool(cw_company_id) and not agreements and not problem
    return Panel(
        suggestion=suggestion,
        new_start=new_start.date() if new_start else None,
        offer_create=offer,
        creation=agreement_creation.latest(db(), company.id),
        templates=_templates() if offer else [],
        default_name=default_name(company.name),
        default_start=first_of_next_month(now(), zone),
        today=now().astimezone(zone).date(),
    )


@bp.app_template_global("agreement_ended_summary")
def ended_summary() -> agreement_suggestions.EndedSummary:
    """The dashboard line's figures (its own partial)."""
    return agreement_suggestions.ended_summary(db(), partner_id())


def _back(company_id: int):
    return redirect(url_for("companies.edit", company_id=company_id), code=303)


@bp.post("/replacements/<id:suggestion_id>/accept")
def accept(suggestion_id: int):
    """Re-point the mapping to the suggested agreement (re-read from ConnectWise first)."""
    row = agreement_suggestions.get_suggestion(db(), partner_id(), suggestion_id)
    with saving() as outcome:
        try:
            with page_client() as client:
                agreement_suggestions.accept(
                    db(), client, partner_id(), row.id, user=current_user.email, now=now()
                )
        except Conflict as exc:
            db().commit()  # a stale suggestion is recorded as such
            flash(str(exc), "error")
            return _back(row.company_id)
    if outcome.ok:
        flash(
            f"Now billed on agreement {row.new_agreement_name} (#{row.new_agreement_id}).",
            "success",
        )
    return _back(row.company_id)


@bp.post("/replacements/<id:suggestion_id>/dismiss")
def dismiss(suggestion_id: int):
    """Dismiss the suggestion: that pair is not suggested again."""
    row = agreement_suggestions.get_suggestion(db(), partner_id(), suggestion_id)
    try:
        agreement_suggestions.dismiss(
            db(), partner_id(), row.id, user=current_user.email, now=now()
        )
        db().commit()
        flash("Suggestion dismissed.", "success")
    except Conflict as exc:
        db().rollback()
        flash(str(exc), "error")
    return _back(row.company_id)


@bp.post("/companies/<id:company_id>/create")
def create(company_id: int):
    """Create the company's agreement from a template, exactly once, then map the company."""
    company = page_queries.get_company(db(), partner_id(), company_id)
    with saving() as outcome:
        req = agreement_creation.CreationRequest(
            partner_id=partner_id(),
            external_id=company.external_id,
            cw_company_id=_required("cw_company_id"),
            template_id=_required("template_id"),
            name=request.form.get("name", "")[:1000] or None,
            start=parse_start(request.form.get("start", "")[:100]),
            user=current_user.email,
        )
        try:
            with page_client() as client:
                result = agreement_creation.create_for_company(
                    state().session_factory, state().settings, client, req, now()
                )
        except Conflict as exc:
            flash(str(exc), "error")
            result = None
    if outcome.ok and result is not None:
        good = result.creation.state in ("done", "settled_done")
        flash(result.message, "success" if good else "error")
    return _back(company.id)


def _required(name: str) -> int:
    value = id_arg(name, form=True)
    if value is None:
        raise InvalidInput(f"{name.replace('_', ' ')} is required")
    return value

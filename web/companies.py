"""Company mappings: tabs with counts, search, the unmatched worklist, and the edit page."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from billing_sync import guard_queries, mapping_health_store, page_queries, worklist_queries
from billing_sync.connectwise.errors import ConnectWiseError
from billing_sync.crypto import SecretDecryptError
from billing_sync.errors import InvalidInput, NotFoundError
from billing_sync.mappings import (
    automatch,
    exclude_company,
    get_mapping,
    include_company,
    save_mapping,
)
from billing_sync.suggestions import refresh_suggestions
from billing_sync.sync_status import latest_finished_run, whole_run_failure
from billing_sync.worklist import DEFAULT_MIN_SCORE, preview_accept
from web import rules
from web.common import (
    cw_problem,
    id_arg,
    page_arg,
    page_client,
    partner,
    partner_id,
    saving,
    search_arg,
)
from web.state import db, now

bp = Blueprint("companies", __name__, url_prefix="/companies")
SHOWN_WAITING = 8
TABS = (*page_queries.TABS, "problems")


def _tab_page(tab: str, search: str, failed: set[int], health: str | None):
    if tab == "unmatched":
        return worklist_queries.worklist_page(db(), partner_id(), search=search, page=page_arg())
    if tab == "problems":
        return worklist_queries.problems_page(
            db(), partner_id(), search=search, page=page_arg(), failed=failed
        )
    return page_queries.company_page(
        db(), partner_id(), tab=tab, search=search, page=page_arg(), health=health
    )


@bp.get("/")
def index():
    """One tab of the mappings listing (Unmatched is the worklist), searchable and paginated."""
    tab = request.args.get("tab", "mapped")
    if tab not in TABS:
        tab = "mapped"
    search = search_arg()
    level = request.args.get("health")
    level = level if level in mapping_health_store.LEVELS and tab == "mapped" else None
    failed = worklist_queries.failed_company_ids(db(), partner_id())
    page = _tab_page(tab, search, failed, level)
    drift, held, health = {}, {}, {}
    if tab in ("mapped", "excluded"):  # rows of company_page; one query each for the page
        ids = [row.company_id for row in page.items]
        drift = guard_queries.open_drift_by_company(db(), partner_id(), ids)
        held = guard_queries.open_holds_by_company(db(), partner_id(), ids)
    if tab in ("mapped", "problems"):
        health = mapping_health_store.health_of(
            db(), partner_id(), [r.company_id for r in page.items]
        )
    counts = page_queries.mapping_counts(db(), partner_id(), search)
    counts["problems"] = worklist_queries.problem_count(db(), partner_id(), search, failed)
    cached, fetched_at = worklist_queries.cache_status(db(), partner_id())
    preview = None
    if tab == "unmatched" and cached:
        preview = preview_accept(db(), partner_id(), DEFAULT_MIN_SCORE)
    return render_template(
        "companies.html",
        tab=tab,
        search=search,
        page=page,
        counts=counts,
        tz=partner().timezone,
        cached=cached,
        fetched_at=fetched_at,
        preview=preview,
        min_score=DEFAULT_MIN_SCORE,
        failure=whole_run_failure(latest_finished_run(db(), partner_id())),
        drift=drift,
        held=held,
        health=health,
        health_filter=level,
    )


def _automatch_message(proposals) -> str:
    matched = [p for p in proposals if p.agreement is not None]
    waiting = [p for p in proposals if p.agreement is None]
    message = f"Auto-match mapped {len(matched)} of {len(proposals)} unmatched companies."
    if waiting:
        names = {
            c.id: c.name
            for c in page_queries.companies_by_id(
                db(), partner_id(), [p.company_id for p in waiting[:SHOWN_WAITING]]
            )
        }
        shown = "; ".join(
            f"{names.get(p.company_id, p.company_id)}: {p.reason}" for p in waiting[:SHOWN_WAITING]
        )
        more = f" and {len(waiting) - SHOWN_WAITING} more" if len(waiting) > SHOWN_WAITING else ""
        message += f" Waiting for you: {shown}{more}."
    return message


@bp.post("/automatch")
def automatch_all():
    """Map every unmatched company whose name and single active agreement are unambiguous."""
    with saving() as outcome, page_client() as client:
        proposals = automatch(db(), partner_id(), client, now=now())
    if outcome.ok:
        flash(
            _automatch_message(proposals)
            if proposals
            else "Every company is already mapped or excluded.",
            "success",
        )
        with saving(), page_client() as client:  # the rest wait on the worklist, suggested
            refresh_suggestions(db(), partner_id(), client, now=now())
    return redirect(url_for(".index", tab="unmatched"))


def _choices(client, query: str, cw_company_id: int | None):
    """CW companies matching the search, and the chosen company's active agreements."""
    found = client.search_companies(query, limit=50) if query else []
    agreements = []
    if cw_company_id is not None:
        at = now()
        agreements = [
            a for a in client.company_agreements(cw_company_id) if a.inactive_reason(at) is None
        ]
    return found, agreements


@bp.get("/<id:company_id>")
def edit(company_id: int):
    """Choose the ConnectWise company (searchable), then one of its active agreements."""
    company = page_queries.get_company(db(), partner_id(), company_id)
    mapping = get_mapping(db(), company)
    # Open on the current match; for an unmatched company, on its suggestion.
    current = mapping.cw_company_id if mapping and mapping.status == "mapped" else None
    name = mapping.cw_company_name if current else None
    if mapping is None and (hint := worklist_queries.suggested(db(), partner_id(), company.id)):
        current, name = hint
    query = search_arg(default=name or company.name)
    cw_company_id = id_arg("cw_company") or current
    found, agreements, problem = [], [], None
    try:
        with page_client() as client:
            found, agreements = _choices(client, query, cw_company_id)
    except (NotFoundError, SecretDecryptError) as exc:
        problem = str(exc)
    except ConnectWiseError as exc:
        problem = cw_problem(exc)
    chosen = next((c for c in found if c.id == cw_company_id), None)
    taken = worklist_queries.holders(db(), partner_id(), {c.id for c in found}, besides=company.id)
    return render_template(
        "company_edit.html",
        company=company,
        mapping=mapping,
        query=query,
        found=found,
        chosen=chosen,
        cw_company_id=cw_company_id,
        agreements=agreements,
        problem=problem,
        taken=taken,
        health=mapping_health_store.health_of(db(), partner_id(), [company.id]).get(company.id),
        **rules.company_rules_context(company.id),
    )


@bp.post("/<id:company_id>/map")
def map_company(company_id: int):
    """Save the mapping to the chosen agreement (an agreement is required)."""
    company = page_queries.get_company(db(), partner_id(), company_id)
    cw_company_id = id_arg("cw_company_id", form=True)
    agreement_id = id_arg("agreement_id", form=True)
    back = url_for(
        ".edit", company_id=company.id, cw_company=cw_company_id, q=search_arg(form=True)
    )
    if cw_company_id is None or agreement_id is None:
        flash("Choose a ConnectWise company and one of its agreements before saving.", "error")
        return redirect(back)
    with saving() as outcome:
        with page_client() as client:
            agreement = client.agreements_by_ids([agreement_id]).get(agreement_id)
        if agreement is None:
            raise InvalidInput(f"agreement {agreement_id} does not exist in ConnectWise")
        save_mapping(db(), company, cw_company_id, agreement, matched_by="manual", now=now())
    if not outcome.ok:
        return redirect(back)
    flash(f"{company.name} is billed on agreement {agreement.name}.", "success")
    return redirect(url_for(".index", tab="unmatched"))  # on to the next one waiting


@bp.post("/<id:company_id>/exclude")
def exclude(company_id: int):
    """Leave a company out of every sync."""
    company = page_queries.get_company(db(), partner_id(), company_id)
    exclude_company(db(), company, now=now())
    db().commit()
    flash(f"{company.name} is excluded from syncing.", "success")
    tab = request.form.get("tab", "excluded")
    return redirect(url_for(".index", tab=tab if tab in page_queries.TABS else "excluded"))


@bp.post("/<id:company_id>/include")
def include(company_id: int):
    """Undo an exclusion."""
    company = page_queries.get_company(db(), partner_id(), company_id)
    include_company(db(), company)
    db().commit()
    flash(f"{company.name} is included again.", "success")
    return redirect(url_for(".index", tab="excluded"))

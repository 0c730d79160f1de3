"""The unmatched worklist through the test client: suggestions, accept, not this one, pickers."""

from __future__ import annotations

import html
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from billing_sync.models import Company, CompanyMapping, MatchRejection, MatchSuggestion, Run
from billing_sync.usage import import_usage_csv
from tests.web.conftest import NOW, connect


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


@pytest.fixture
def cw(sim_state):
    """ConnectWise ids by name, with two more customers the vendor spells differently."""
    contoso = sim_state.add_company(name="Contoso Limited")
    sim_state.add_agreement(company_id=contoso["id"], name="Contoso Care")
    northwind = sim_state.add_company(name="Northwind Traders")
    sim_state.add_agreement(company_id=northwind["id"], name="Northwind Managed")
    return {r["name"]: r["id"] for r in sim_state.records("companies")}


@pytest.fixture
def unmatched(session_factory, world):
    """Vendor companies waiting: identical, similar, two agreements, nothing alike."""
    names = ["Contoso Ltd", "Northwind Trading", "Bakery Bros", "Fabrikam", "ACME dental"]
    with session_factory.begin() as session:
        companies = [
            Company(partner_id=world.partner_id, external_id=f"w-{n}", name=name)
            for n, name in enumerate(names)
        ]
        session.add_all(companies)
        session.flush()
        return {c.name: c.id for c in companies}


@pytest.fixture
def ready(admin, simulator, cw, unmatched):
    """Connected, and suggestions read from ConnectWise."""
    assert connect(admin, simulator.site).status_code == 302
    response = admin.post("/companies/suggestions/refresh")
    assert response.status_code == 302
    return admin


def _mapping(session_factory, company_id):
    with session_factory() as session:
        return session.scalar(select(CompanyMapping).where(CompanyMapping.company_id == company_id))


def _suggested(session_factory, company_id):
    with session_factory() as session:
        row = session.scalar(
            select(MatchSuggestion).where(MatchSuggestion.company_id == company_id)
        )
        return None if row is None else (row.cw_company_id, row.reason, row.score)


def test_the_worklist_shows_each_suggestion_with_its_reason_and_agreement(ready, cw, unmatched):
    page = _text(ready.get("/companies/?tab=unmatched"))
    assert "Suggestions from 4 ConnectWise companies" in page
    assert 'Bakery Bros</strong><br><span class="reason">identical name' in page
    assert "same name ignoring case and punctuation" in page  # ACME dental
    assert "similar name (score" in page  # Contoso Ltd, Northwind Trading
    assert "2 active agreements" in page  # Bakery Bros: the admin chooses
    assert "Contoso Care" in page  # one active agreement: pre-selected
    assert "No suggestion" in page  # Fabrikam


def test_accept_maps_the_suggested_company_on_its_one_agreement(
    ready, session_factory, cw, unmatched
):
    contoso = unmatched["Contoso Ltd"]
    response = ready.post(
        f"/companies/{contoso}/accept",
        data={"cw_company_id": cw["Contoso Limited"]},
        follow_redirects=True,
    )
    assert "Contoso Ltd is billed on agreement Contoso Care of Contoso Limited" in _text(response)
    mapping = _mapping(session_factory, contoso)
    assert (mapping.status, mapping.cw_company_id, mapping.matched_by) == (
        "mapped",
        cw["Contoso Limited"],
        "suggestion",
    )
    assert "Unmatched (4)" in _text(ready.get("/companies/?tab=unmatched"))


def test_accept_with_several_agreements_opens_the_agreement_choice(ready, cw, unmatched):
    bakery = unmatched["Bakery Bros"]
    response = ready.post(f"/companies/{bakery}/accept", data={"cw_company_id": cw["Bakery Bros"]})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(
        f"/companies/{bakery}?cw_company={cw['Bakery Bros']}"
    )
    page = _text(ready.get(response.headers["Location"]))
    assert "Bakery Gold" in page and "Bakery Silver" in page


def test_a_stale_suggestion_is_refused_and_nothing_is_written(
    ready, session_factory, cw, unmatched
):
    contoso = unmatched["Contoso Ltd"]
    response = ready.post(
        f"/companies/{contoso}/accept",
        data={"cw_company_id": cw["Northwind Traders"]},
        follow_redirects=True,
    )
    assert "has changed since the page was shown" in _text(response)
    assert _mapping(session_factory, contoso) is None


def test_not_this_one_is_remembered_and_never_suggested_again(
    ready, session_factory, cw, unmatched
):
    contoso = unmatched["Contoso Ltd"]
    assert _suggested(session_factory, contoso)[0] == cw["Contoso Limited"]
    response = ready.post(
        f"/companies/{contoso}/reject",
        data={"cw_company_id": cw["Contoso Limited"]},
        follow_redirects=True,
    )
    assert "Contoso Limited will not be suggested for Contoso Ltd again" in _text(response)
    assert _suggested(session_factory, contoso) is None  # nothing else is close
    # a double click rejects nothing more; a refresh does not bring it back
    again = ready.post(
        f"/companies/{contoso}/reject",
        data={"cw_company_id": cw["Contoso Limited"]},
        follow_redirects=True,
    )
    assert "has changed" in _text(again)
    ready.post("/companies/suggestions/refresh")
    assert _suggested(session_factory, contoso) is None
    with session_factory() as session:
        assert session.scalar(select(func.count(MatchRejection.id))) == 1


def test_the_drop_down_maps_another_company(ready, session_factory, cw, unmatched):
    fabrikam = unmatched["Fabrikam"]
    response = ready.post(
        f"/companies/{fabrikam}/choose",
        data={"cw_company": f"Northwind Traders (#{cw['Northwind Traders']})"},
        follow_redirects=True,
    )
    assert "Fabrikam is billed on agreement Northwind Managed" in _text(response)
    mapping = _mapping(session_factory, fabrikam)
    assert (mapping.cw_company_id, mapping.matched_by) == (cw["Northwind Traders"], "manual")


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "Type or choose a ConnectWise company first"),
        ("Nobody Inc", "none is called 'Nobody Inc'"),
        ("Ghost (#999999)", "is not in the company list read from ConnectWise"),
    ],
)
def test_the_drop_down_refuses_what_is_not_on_the_list(
    ready, session_factory, unmatched, typed, message
):
    fabrikam = unmatched["Fabrikam"]
    response = ready.post(
        f"/companies/{fabrikam}/choose", data={"cw_company": typed}, follow_redirects=True
    )
    assert message in _text(response)
    assert _mapping(session_factory, fabrikam) is None


def test_bulk_accept_maps_sure_ones_and_says_what_it_skipped(ready, session_factory, cw, unmatched):
    response = ready.post(
        "/companies/suggestions/accept", data={"min_score": "90"}, follow_redirects=True
    )
    page = _text(response)
    # ACME dental -> Acme Dental (normalised, one agreement); Bakery Bros has two agreements;
    # Contoso and Northwind score below 90.
    assert "Mapped 1 company by suggestion (score 90 or more)" in page
    assert "Skipped 1: 1 with several active agreements (choose one)" in page
    assert _mapping(session_factory, unmatched["ACME dental"]).matched_by == "suggestion"
    assert _mapping(session_factory, unmatched["Bakery Bros"]) is None
    assert _mapping(session_factory, unmatched["Contoso Ltd"]) is None


def test_bulk_accept_skips_a_company_already_mapped_elsewhere(
    ready, session_factory, cw, unmatched
):
    ready.post(
        f"/companies/{unmatched['Fabrikam']}/choose",
        data={"cw_company": f"Acme Dental (#{cw['Acme Dental']})"},
    )
    page = _text(
        ready.post("/companies/suggestions/accept", data={"min_score": "90"}, follow_redirects=True)
    )
    assert "whose ConnectWise company is already mapped to another company" in page
    assert _mapping(session_factory, unmatched["ACME dental"]) is None


@pytest.mark.parametrize("score", ["abc", "49", "101", ""])
def test_bulk_accept_refuses_a_bad_score(ready, session_factory, world, unmatched, score):
    response = ready.post("/companies/suggestions/accept", data={"min_score": score})
    assert response.status_code == 400
    with session_factory() as session:
        mapped = select(func.count(CompanyMapping.id)).where(
            CompanyMapping.partner_id == world.partner_id
        )
        assert session.scalar(mapped) == 1  # the world's own, nothing more


def test_exclude_selected_excludes_every_ticked_company(ready, session_factory, unmatched):
    chosen = [unmatched["Fabrikam"], unmatched["Contoso Ltd"]]
    response = ready.post(
        "/companies/exclude-selected",
        data={"company": [str(c) for c in chosen]},
        follow_redirects=True,
    )
    assert "Excluded 2 companies from syncing" in _text(response)
    assert {_mapping(session_factory, c).status for c in chosen} == {"excluded"}


def test_exclude_selected_with_nothing_ticked_says_so(ready):
    response = ready.post("/companies/exclude-selected", data={}, follow_redirects=True)
    assert "Select the companies to exclude first" in _text(response)


def test_exclude_selected_with_another_partners_id_writes_nothing(
    ready, session_factory, world, unmatched
):
    response = ready.post(
        "/companies/exclude-selected",
        data={"company": [str(unmatched["Fabrikam"]), str(world.theirs_company_id)]},
    )
    assert response.status_code == 404
    assert _mapping(session_factory, unmatched["Fabrikam"]) is None


@pytest.mark.parametrize(
    "path",
    ["accept", "reject", "choose"],
)
def test_another_partners_company_is_not_found(ready, world, path):
    response = ready.post(
        f"/companies/{world.theirs_company_id}/{path}",
        data={"cw_company_id": "1", "cw_company": "Acme Dental (#1)"},
    )
    assert response.status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/companies/suggestions/refresh",
        "/companies/suggestions/accept",
        "/companies/exclude-selected",
        "/companies/{id}/accept",
        "/companies/{id}/reject",
        "/companies/{id}/choose",
    ],
)
def test_viewers_cannot_act_on_the_worklist(viewer, world, session_factory, path):
    response = viewer.post(path.format(id=world.company_id), data={"company": world.company_id})
    assert response.status_code == 403
    assert viewer.get("/companies/cw-options.json").status_code == 403


def test_pickers_flag_companies_already_mapped_elsewhere(ready, cw, unmatched):
    dental = cw["Acme Dental"]
    ready.post(
        f"/companies/{unmatched['Fabrikam']}/choose",
        data={"cw_company": f"Acme Dental (#{dental})"},
    )
    options = ready.get("/companies/cw-options.json").get_json()
    flagged = next(o for o in options if o["value"] == f"Acme Dental (#{dental})")
    assert flagged["note"] == "1 active agreement · already mapped to Fabrikam (w-3)"
    page = _text(ready.get("/companies/?tab=unmatched&q=acme"))
    assert "Already mapped to Fabrikam (w-3)." in page  # ACME dental's suggestion
    edit = _text(ready.get(f"/companies/{unmatched['ACME dental']}?q=Acme"))
    assert "already mapped to Fabrikam (w-3)" in edit


def test_the_edit_page_preselects_the_current_company_and_agreement(
    admin, simulator, sim_state, cw, unmatched
):
    # Regression: the edit page of a mapped company showed a search box and nothing chosen.
    assert connect(admin, simulator.site).status_code == 302
    contoso = unmatched["Contoso Ltd"]
    care = next(a for a in sim_state.records("agreements") if a["name"] == "Contoso Care")
    saved = admin.post(
        f"/companies/{contoso}/map",
        data={"cw_company_id": cw["Contoso Limited"], "agreement_id": care["id"]},
    )
    assert saved.status_code == 302
    page = _text(admin.get(f"/companies/{contoso}"))
    assert 'value="Contoso Limited"' in page  # the search box holds the CW company's name
    assert "<strong>Contoso Limited</strong> (chosen)" in page
    assert re.search(r'name="agreement_id" value="\d+"\s+checked>', page)
    assert "Contoso Care" in page and "2. Agreement of Contoso Limited" in page


def test_search_says_which_tab_a_company_is_on(ready, unmatched):
    page = _text(ready.get("/companies/?tab=excluded&q=acme dental"))
    assert "1 on the Mapped tab" in page and "1 on the Unmatched tab" in page
    assert "No excluded companies matching" in page
    nothing = _text(ready.get("/companies/?tab=mapped&q=zzz"))
    assert "no company of that name or id on any tab" in nothing


def test_the_problems_tab_lists_failed_companies_with_advice(admin, world):
    page = _text(admin.get("/companies/?tab=problems"))
    assert "Problems (1)" in page
    assert "ambiguous additions 5, 6" in page and "Cancel one of them" in page
    assert "Globex" not in page


def test_the_problems_tab_says_when_the_last_run_failed_as_a_whole(
    admin, viewer, world, session_factory
):
    with session_factory.begin() as session:  # a wrong key: the next run reached no company
        session.add(
            Run(
                partner_id=world.partner_id,
                trigger="manual",
                dry_run=False,
                status="failed",
                basis="month_end",
                message="GET /finance/agreements -> 401: credentials refused",
                started_at=NOW + timedelta(hours=1),
                finished_at=NOW + timedelta(hours=1),
            )
        )
    for client in (admin, viewer):
        page = " ".join(_text(client.get("/companies/?tab=problems")).split())
        assert "The last run (" in page and "failed: GET /finance/agreements -> 401" in page
        assert "It synced no company" in page
        assert "every mapped company's latest sync went through" not in page
        assert "Not synced: last run failed" in page  # Acme Dental's row says so too


def test_the_edit_page_of_an_unmatched_company_opens_on_its_suggestion(ready, cw, unmatched):
    page = _text(ready.get(f"/companies/{unmatched['Northwind Trading']}"))
    assert 'value="Northwind Traders"' in page
    assert "<strong>Northwind Traders</strong> (chosen)" in page
    assert "Northwind Managed" in page


def test_the_worklist_previews_what_bulk_accept_would_do(ready):
    page = " ".join(_text(ready.get("/companies/?tab=unmatched")).split())
    assert (
        "At 90 or more, Accept suggestions would map <strong>1</strong> company and leave "
        "1 with several active agreements (choose one) to you." in page
    )


def test_a_company_imported_after_a_refresh_arrives_with_its_suggestion(
    ready, session_factory, world, cw
):
    csv = (
        "company_id,company_name,user_id,user_email,product,active_from,active_to\n"
        "new-1,Northwind Traders Inc,u1,u1@nw.test,pb-business,2026-01-05T00:00:00Z,\n"
    )
    with session_factory.begin() as session:  # no ConnectWise call: the cached list ranks it
        import_usage_csv(session, world.partner_id, io.StringIO(csv), now=NOW)
    with session_factory() as session:
        company_id = session.scalar(select(Company.id).where(Company.external_id == "new-1"))
    cw_id, reason, _score = _suggested(session_factory, company_id)
    assert cw_id == cw["Northwind Traders"] and reason != "identical"
    page = _text(ready.get("/companies/?tab=unmatched&q=Northwind+Traders+Inc"))
    assert "No suggestion" not in page

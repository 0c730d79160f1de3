"""The company page's agreement panel and the dashboard line, over the simulator."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from billing_sync import mappings, partners
from billing_sync.models import AgreementCreation, AgreementReplacement, Company
from billing_sync.sync import run_sync
from tests.sync.conftest import NOW, build_world
from tests.web.conftest import CSRF_INPUT, PASSWORD, login
from web import create_app


@pytest.fixture
def synced(session_factory, settings, cw, cw_state):
    """ext-001's agreement cancelled with one newer (suggested by a run); Newco unmapped."""
    world = build_world(session_factory, settings, cw, cw_state, companies=2)
    old = world.agreements["ext-001"]
    with cw_state.lock:
        cw_state.table("agreements")[old]["cancelledFlag"] = True
    cw_company = cw_state.get("agreements", old)["company"]["id"]
    world.new = cw_state.add_agreement(
        cw_company, "MSA 2027", start_date=datetime(2026, 10, 1, tzinfo=UTC)
    )["id"]
    world.cw_new = cw_state.add_company(name="Newco")["id"]
    with session_factory.begin() as session:
        newco = Company(partner_id=world.partner_id, external_id="ext-new", name="Newco")
        session.add(newco)
        msp = partners.get_partner(session, "msp")
        for role in ("admin", "viewer"):
            partners.create_user(session, msp, f"{role}@msp.test", PASSWORD, role=role, now=NOW)
        other = partners.create_partner(session, "other", now=NOW)
        partners.create_user(session, other, "admin@other.test", PASSWORD, role="admin", now=NOW)
        session.flush()
        world.newco = newco.id
    run_sync(session_factory, settings, world.partner_id, now=NOW)
    cw_state.clear_log()
    return world


def _client(settings, session_factory, email: str, *, csrf: bool = False):
    app = create_app(settings, session_factory=session_factory)
    app.config.update(TESTING=True, WTF_CSRF_ENABLED=csrf)
    app.extensions["billing_sync"].clock = lambda: NOW
    client = app.test_client()
    assert login(client, email).status_code == 302
    return client


def suggestion(factory) -> AgreementReplacement:
    with factory() as session:
        return session.scalars(select(AgreementReplacement)).one()


def mapped(factory, world, external: str) -> int | None:
    with factory() as session:
        mapping = mappings.get_mapping(
            session, mappings.get_company(session, world.partner_id, external)
        )
        return mapping.agreement_id if mapping else None


def test_the_company_page_offers_the_replacement_and_accept_repoints(
    settings, session_factory, synced
):
    admin = _client(settings, session_factory, "admin@msp.test")
    row = suggestion(session_factory)

    page = admin.get(f"/companies/{synced.companies['ext-001']}").get_data(as_text=True)
    assert f"Re-point to MSA 2027 (#{synced.new}, starts 2026-10-01)" in page
    assert ">Dismiss</button>" in page and "is cancelled" in page
    dashboard = admin.get("/").get_data(as_text=True)
    assert "1 mapped agreement ended: 1 replacement suggested" in dashboard

    done = admin.post(f"/agreements/replacements/{row.id}/accept")

    assert done.status_code == 303
    assert mapped(session_factory, synced, "ext-001") == synced.new
    row = suggestion(session_factory)
    assert (row.status, row.decided_by) == ("accepted", "admin@msp.test")
    after = admin.get(f"/companies/{synced.companies['ext-001']}").get_data(as_text=True)
    assert "Re-point to" not in after and "Now billed on agreement MSA 2027" in after


def test_dismiss_hides_the_suggestion(settings, session_factory, synced):
    admin = _client(settings, session_factory, "admin@msp.test")
    row = suggestion(session_factory)

    admin.post(f"/agreements/replacements/{row.id}/dismiss")

    assert suggestion(session_factory).status == "dismissed"
    page = admin.get(f"/companies/{synced.companies['ext-001']}").get_data(as_text=True)
    assert "Re-point to" not in page
    assert mapped(session_factory, synced, "ext-001") == synced.agreements["ext-001"]


def test_create_agreement_is_offered_for_a_company_without_one_and_maps(
    settings, session_factory, synced, cw_state
):
    admin = _client(settings, session_factory, "admin@msp.test")
    url = f"/companies/{synced.newco}?cw_company={synced.cw_new}&q=Newco"

    page = admin.get(url).get_data(as_text=True)
    assert "Create agreement" in page and 'value="Newco - per-user licences"' in page
    assert 'value="2026-12-01"' in page and 'min="2026-11-05"' in page
    assert f'<option value="{synced.agreements["ext-000"]}">MSA 000</option>' in page

    form = {
        "cw_company_id": synced.cw_new,
        "template_id": synced.agreements["ext-000"],
        "name": "Newco - per-user licences",
        "start": "2026-12-01",
    }
    done = admin.post(f"/agreements/companies/{synced.newco}/create", data=form)

    assert done.status_code == 303
    made = [a for a in cw_state.records("agreements") if a["company"]["id"] == synced.cw_new]
    assert len(made) == 1 and mapped(session_factory, synced, "ext-new") == made[0]["id"]
    page = admin.get(done.headers["Location"]).get_data(as_text=True)
    assert f"created agreement {made[0]['id']} and mapped Newco" in page
    assert "Create agreement</button>" not in admin.get(url).get_data(as_text=True)


def test_a_lost_answer_says_it_may_still_land_and_a_retry_creates_nothing_more(
    settings, session_factory, synced, cw_state
):
    admin = _client(settings, session_factory, "admin@msp.test")
    form = {"cw_company_id": synced.cw_new, "template_id": synced.agreements["ext-000"]}
    cw_state.faults.lose_next_posts = 1

    admin.post(f"/agreements/companies/{synced.newco}/create", data=form)
    with session_factory() as session:
        assert session.scalars(select(AgreementCreation.state)).all() == ["intent"]
    # The page reads ConnectWise: the agreement landed, so Create agreement is no longer offered.
    page = admin.get(f"/companies/{synced.newco}?cw_company={synced.cw_new}").get_data(as_text=True)
    assert "it may still land" in page
    again = admin.post(
        f"/agreements/companies/{synced.newco}/create", data=form, follow_redirects=True
    )

    assert "landed" in again.get_data(as_text=True)
    made = [a for a in cw_state.records("agreements") if a["company"]["id"] == synced.cw_new]
    assert len(made) == 1 and mapped(session_factory, synced, "ext-new") == made[0]["id"]


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"template_id": "1"}, "cw company id is required"),
        ({"cw_company_id": "x", "template_id": "1"}, "cw_company_id must be a whole number"),
        ({"cw_company_id": "1", "template_id": "1", "start": "soon"}, "is not a date"),
    ],
)
def test_bad_create_forms_are_refused_with_a_message(
    settings, session_factory, synced, cw_state, form, message
):
    admin = _client(settings, session_factory, "admin@msp.test")
    answer = admin.post(
        f"/agreements/companies/{synced.newco}/create", data=form, follow_redirects=True
    )
    assert answer.status_code in (200, 400) and message in answer.get_data(as_text=True)
    assert not [e for e in cw_state.log if e.method == "POST"]


def test_viewers_see_the_dashboard_line_but_cannot_act(settings, session_factory, synced):
    viewer = _client(settings, session_factory, "viewer@msp.test")
    row = suggestion(session_factory)

    assert "1 replacement suggested" in viewer.get("/").get_data(as_text=True)
    assert viewer.post(f"/agreements/replacements/{row.id}/accept").status_code == 403
    assert viewer.post(f"/agreements/replacements/{row.id}/dismiss").status_code == 403
    assert viewer.post(f"/agreements/companies/{synced.newco}/create").status_code == 403
    assert suggestion(session_factory).status == "open"


def test_another_partners_ids_answer_404(settings, session_factory, synced):
    other = _client(settings, session_factory, "admin@other.test")
    row = suggestion(session_factory)

    assert other.post(f"/agreements/replacements/{row.id}/accept").status_code == 404
    assert other.post(f"/agreements/replacements/{row.id}/dismiss").status_code == 404
    form = {"cw_company_id": synced.cw_new, "template_id": 1}
    assert other.post(f"/agreements/companies/{synced.newco}/create", data=form).status_code == 404
    assert suggestion(session_factory).status == "open"


def test_forms_need_the_csrf_token(settings, session_factory, synced):
    admin = _client(settings, session_factory, "admin@msp.test", csrf=True)
    row = suggestion(session_factory)

    assert admin.post(f"/agreements/replacements/{row.id}/dismiss").status_code == 400
    page = admin.get(f"/companies/{synced.companies['ext-001']}").get_data(as_text=True)
    token = CSRF_INPUT.search(page).group(1)
    done = admin.post(f"/agreements/replacements/{row.id}/dismiss", data={"csrf_token": token})
    assert done.status_code == 303 and suggestion(session_factory).status == "dismissed"
    assert re.search(r"Re-point to", admin.get("/").get_data(as_text=True)) is None

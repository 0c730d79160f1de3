"""The Orphans page over a synced world on the simulator: kinds, actions, roles, isolation."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select

from billing_sync import mappings, partners
from billing_sync.models import Run
from billing_sync.sync import run_sync
from tests.sync.conftest import NOW, build_world
from tests.web.conftest import PASSWORD, login
from web import create_app


@pytest.fixture
def synced(session_factory, settings, cw, cw_state):
    """Two companies synced; ext-001 excluded since (left behind); one unowned addition."""
    world = build_world(session_factory, settings, cw, cw_state, companies=2)
    assert run_sync(session_factory, settings, world.partner_id, now=NOW).status == "succeeded"
    with session_factory.begin() as session:
        company = mappings.get_company(session, world.partner_id, "ext-001")
        mappings.exclude_company(session, company, now=NOW)
        msp = partners.get_partner(session, "msp")
        partners.update_partner_settings(msp, timezone="America/New_York")
        for role in ("admin", "viewer"):
            partners.create_user(session, msp, f"{role}@msp.test", PASSWORD, role=role, now=NOW)
        other = partners.create_partner(session, "other", now=NOW)
        partners.create_user(session, other, "admin@other.test", PASSWORD, role="admin", now=NOW)
    premium = world.catalog["pb-premium"]
    world.unowned = cw_state.add_addition(world.agreements["ext-000"], premium, quantity=4)
    return world


def _app(settings, session_factory, *, csrf: bool = False):
    app = create_app(settings, session_factory=session_factory)
    app.config.update(TESTING=True, WTF_CSRF_ENABLED=csrf)
    return app


def _client(app, email: str):
    client = app.test_client()
    assert login(client, email).status_code == 302
    return client


def test_the_page_lists_each_kind_with_actions_for_admins(
    settings, session_factory, synced, cw_state
):
    admin = _client(_app(settings, session_factory), "admin@msp.test")

    page = admin.get("/orphans/").get_data(as_text=True)

    assert "Not created by billing-sync (1)" in page
    assert "Left behind by a remap or exclusion (2)" in page and "Mapping deleted (0)" in page
    assert "its company is excluded" in page and "the next sync adopts it" in page
    assert "Checked ConnectWise at" in page and ("EST" in page or "EDT" in page)
    assert page.count(">Adopt</button>") == 1  # only the unowned addition
    assert page.count("Set to 0…") == 3
    assert 'href="/orphans/"' in page  # the nav link


def test_set_to_zero_needs_the_confirmation_then_is_a_recorded_run(
    settings, session_factory, synced, cw_state
):
    admin = _client(_app(settings, session_factory), "admin@msp.test")
    left = synced.additions("ext-001")[0]
    form = {"addition_id": left["id"], "agreement_id": left["agreementId"]}

    unconfirmed = admin.post("/orphans/zero", data=form, follow_redirects=True)
    assert "Tick the confirmation" in unconfirmed.get_data(as_text=True)
    assert not [e for e in cw_state.log if e.method == "PATCH"]

    done = admin.post("/orphans/zero", data={**form, "confirm": "1"})

    assert done.status_code == 303
    assert "is set to 0 in ConnectWise" in admin.get("/orphans/").get_data(as_text=True)
    assert cw_state.get("additions", left["id"])["quantity"] == 0.0
    with session_factory() as session:
        run = session.scalars(select(Run).where(Run.trigger == "orphan")).one()
    assert (run.status, run.updated) == ("succeeded", 1)
    ledger = admin.get(f"/runs/{run.id}").get_data(as_text=True)
    assert "Customer 001" in ledger and str(left["id"]) in ledger


def test_adopt_from_the_page(settings, session_factory, synced):
    admin = _client(_app(settings, session_factory), "admin@msp.test")
    form = {"addition_id": synced.unowned["id"], "agreement_id": synced.agreements["ext-000"]}

    admin.post("/orphans/adopt", data=form)

    page = admin.get("/orphans/").get_data(as_text=True)
    assert "is kept by billing-sync from now on" in page
    assert "Not created by billing-sync (0)" in page


def test_viewers_read_but_cannot_act(settings, session_factory, synced, cw_state):
    viewer = _client(_app(settings, session_factory), "viewer@msp.test")
    left = synced.additions("ext-001")[0]

    page = viewer.get("/orphans/").get_data(as_text=True)
    refused = viewer.post(
        "/orphans/zero",
        data={"addition_id": left["id"], "agreement_id": left["agreementId"], "confirm": "1"},
    )

    assert "Left behind by a remap or exclusion (2)" in page
    assert ">Adopt</button>" not in page and "Set to 0…" not in page
    assert refused.status_code == 403
    assert not [e for e in cw_state.log if e.method == "PATCH"]


def test_another_partner_sees_none_and_cannot_touch_them(
    settings, session_factory, synced, cw_state
):
    theirs = _client(_app(settings, session_factory), "admin@other.test")
    left = synced.additions("ext-001")[0]

    page = theirs.get("/orphans/")
    answer = theirs.post(
        "/orphans/zero",
        data={"addition_id": left["id"], "agreement_id": left["agreementId"], "confirm": "1"},
        follow_redirects=True,
    )

    assert page.status_code == 200 and "not connected" in page.get_data(as_text=True)
    assert answer.status_code == 200 and "not connected" in answer.get_data(as_text=True)
    assert cw_state.get("additions", left["id"])["quantity"] == 2.0


def test_forms_need_a_csrf_token(settings, session_factory, synced, cw_state):
    admin = _client(_app(settings, session_factory, csrf=True), "admin@msp.test")
    left = synced.additions("ext-001")[0]

    answer = admin.post(
        "/orphans/zero",
        data={"addition_id": left["id"], "agreement_id": left["agreementId"], "confirm": "1"},
    )

    assert answer.status_code == 400
    assert cw_state.get("additions", left["id"])["quantity"] == 2.0


@pytest.mark.parametrize("value", ["abc", "-1", "", "99999999999"])
def test_bad_ids_never_give_a_500(settings, session_factory, synced, value):
    admin = _client(_app(settings, session_factory), "admin@msp.test")

    for path in ("/orphans/zero", "/orphans/adopt"):
        answer = admin.post(
            path, data={"addition_id": value, "agreement_id": value, "confirm": "1"}
        )
        assert answer.status_code in (303, 400), (path, answer.status_code)


def test_a_slow_connectwise_costs_the_page_its_wait_not_a_hang(
    settings, session_factory, synced, cw_state
):
    quick = replace(settings, cw_page_timeout_seconds=0.5)
    admin = _client(_app(quick, session_factory), "admin@msp.test")
    cw_state.faults.latency_seconds = 1.0

    page = admin.get("/orphans/")

    cw_state.faults.latency_seconds = 0
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "could not be read, so this list may be incomplete" in text, text

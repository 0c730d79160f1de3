"""The run page's "Roll back this run": admins only, a preview to confirm, CSRF, isolation."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from billing_sync.models import Partner, Run
from billing_sync.partners import create_partner, create_user
from billing_sync.sync import run_sync
from tests.sync.conftest import NOW
from web import create_app

PASSWORD = "correct horse battery"
LATER = NOW + timedelta(hours=1)


@pytest.fixture
def app(settings, session_factory, world):
    with session_factory.begin() as session:
        partner = session.get(Partner, world.partner_id)
        create_user(session, partner, "admin@msp.test", PASSWORD, role="admin", now=NOW)
        create_user(session, partner, "viewer@msp.test", PASSWORD, role="viewer", now=NOW)
        other = create_partner(session, "other", now=NOW)
        create_user(session, other, "admin@other.test", PASSWORD, role="admin", now=NOW)
    app = create_app(settings, session_factory=session_factory)
    app.config.update(TESTING=True, WTF_CSRF_ENABLED=False)
    app.extensions["billing_sync"].clock = lambda: LATER
    yield app
    app.extensions["billing_sync"].runs.join(timeout=30)


def signed_in(app, email: str):
    client = app.test_client()
    response = client.post("/login", data={"email": email, "password": PASSWORD})
    assert response.status_code == 302
    return client


def wait(app) -> None:
    app.extensions["billing_sync"].runs.join(timeout=30)


@pytest.fixture
def first(session_factory, settings, world):
    report = run_sync(session_factory, settings, world.partner_id, now=NOW)
    assert report.status == "succeeded"
    return report.run_id


def test_an_admin_previews_confirms_and_the_rollback_runs(app, world, first, session_factory):
    admin = signed_in(app, "admin@msp.test")
    page = admin.get(f"/runs/{first}").get_data(as_text=True)
    assert "Roll back this run" in page

    previewed = admin.post(f"/runs/{first}/rollback/preview")
    assert previewed.status_code == 302 and "/rollback?preview=" in previewed.headers["Location"]
    wait(app)
    confirm = admin.get(previewed.headers["Location"]).get_data(as_text=True)
    assert "7 to put back" in confirm and "the next run writes the counts again" in confirm
    assert f"Roll back run {first}</button>" in confirm
    assert set(world.quantities().values()) != {0.0}  # the preview wrote nothing
    preview_id = previewed.headers["Location"].rsplit("=", 1)[1]
    elsewhere = admin.get(f"/sync/preview/{preview_id}")  # not a sync preview to Apply
    assert elsewhere.status_code == 302 and elsewhere.headers["Location"].endswith(
        f"/runs/{first}/rollback?preview={preview_id}"
    )

    started = admin.post(f"/runs/{first}/rollback")
    assert started.status_code == 302
    wait(app)
    rollback_id = int(re.search(r"/runs/(\d+)", started.headers["Location"]).group(1))
    done = admin.get(f"/runs/{rollback_id}").get_data(as_text=True)
    assert f'trigger rollback of <a href="/runs/{first}">run {first}</a>' in done
    assert set(world.quantities().values()) == {0.0}
    with session_factory() as session:
        run = session.get(Run, rollback_id)
        assert (run.status, run.rollback_of_run_id, run.dry_run) == ("succeeded", first, False)
    # A rollback can itself be rolled back from its page; the run names its rollback.
    assert "Roll back this run" in done
    original = admin.get(f"/runs/{first}").get_data(as_text=True)
    assert (
        f'Rolled back by <a href="/runs/{rollback_id}">run {rollback_id}</a> (succeeded)'
        in original
    )


def test_viewers_see_no_button_and_may_not_roll_back(app, world, first):
    viewer = signed_in(app, "viewer@msp.test")
    assert "Roll back this run" not in viewer.get(f"/runs/{first}").get_data(as_text=True)
    assert viewer.post(f"/runs/{first}/rollback/preview").status_code == 403
    assert viewer.post(f"/runs/{first}/rollback").status_code == 403
    assert viewer.get(f"/runs/{first}/rollback?preview=1").status_code == 403
    assert set(world.quantities().values()) != {0.0}


def test_another_partners_run_is_not_found_and_bad_ids_never_500(
    app, world, first, session_factory, settings
):
    other = signed_in(app, "admin@other.test")
    for method, path in (
        ("POST", f"/runs/{first}/rollback/preview"),
        ("POST", f"/runs/{first}/rollback"),
        ("GET", f"/runs/{first}/rollback?preview={first}"),
    ):
        assert other.open(path, method=method).status_code == 404, path
    admin = signed_in(app, "admin@msp.test")
    assert admin.get(f"/runs/{first}/rollback").status_code == 404  # no preview named
    assert admin.get(f"/runs/{first}/rollback?preview=abc").status_code == 400
    assert admin.get(f"/runs/{first}/rollback?preview={first}").status_code == 404  # not one
    preview = run_sync(session_factory, settings, world.partner_id, now=NOW, dry_run=True)
    assert "Roll back this run" not in admin.get(f"/runs/{preview.run_id}").get_data(as_text=True)
    refused = admin.post(f"/runs/{preview.run_id}/rollback", follow_redirects=True)
    assert refused.status_code == 200 and "is a preview" in refused.get_data(as_text=True)
    with session_factory() as session:
        assert session.scalars(select(Run).where(Run.trigger == "rollback")).all() == []


def test_the_forms_carry_a_csrf_token_and_refuse_without_it(app, first):
    app.config["WTF_CSRF_ENABLED"] = True
    admin = app.test_client()
    page = admin.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    data = {"email": "admin@msp.test", "password": PASSWORD, "csrf_token": token}
    assert admin.post("/login", data=data).status_code == 302
    page = admin.get(f"/runs/{first}").get_data(as_text=True)
    assert re.search(r'rollback/preview"[^>]*>\s*<input type="hidden" name="csrf_token"', page)
    assert admin.post(f"/runs/{first}/rollback/preview").status_code == 400
    assert admin.post(f"/runs/{first}/rollback").status_code == 400

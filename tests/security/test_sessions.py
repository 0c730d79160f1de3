"""Sessions end server-side: sign-out revokes every cookie of the user; sign-ins are short-lived."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest
from sqlalchemy import select

from billing_sync.models import Partner, User
from billing_sync.settings import Settings, SettingsError
from tests.web.conftest import CSRF_INPUT, NOW, login
from web import create_app


def _replay(app, cookie: str):
    """A new browser holding a captured session cookie."""
    client = app.test_client()
    client.set_cookie("session", cookie)
    return client


def _integration_enabled(session_factory, partner_id: int) -> bool:
    with session_factory() as session:
        return session.get(Partner, partner_id).integration_enabled


def test_a_cookie_captured_before_sign_out_neither_reads_nor_writes(
    app, admin, world, session_factory, dump
):
    stolen = admin.get_cookie("session").value
    assert _replay(app, stolen).get("/").status_code == 200  # the cookie works until sign-out

    assert admin.post("/logout").status_code == 302
    before = dump()
    thief = _replay(app, stolen)

    page = thief.get("/runs/")
    write = thief.post("/connection/integration", data={"enabled": "1"})
    poll = thief.get(f"/runs/{world.run_id}/status.json", headers={"Accept": "application/json"})

    assert page.status_code == 302 and page.headers["Location"].startswith("/login")
    assert write.status_code == 302 and write.headers["Location"].startswith("/login")
    assert poll.status_code == 401
    assert not _integration_enabled(session_factory, world.partner_id)
    assert dump() == before


def test_sign_out_ends_the_users_sessions_in_every_browser_but_no_one_elses(app, viewer):
    laptop, phone = app.test_client(), app.test_client()
    assert login(laptop, "admin@acme.test").status_code == 302
    assert login(phone, "admin@acme.test").status_code == 302

    laptop.post("/logout")

    assert phone.get("/").status_code == 302
    assert viewer.get("/").status_code == 200
    assert login(phone, "admin@acme.test").status_code == 302  # signing in again works
    assert phone.get("/").status_code == 200


def test_a_sign_in_lasts_the_configured_hours_however_active(settings, session_factory, world):
    app = create_app(
        dataclasses.replace(settings, session_hours=2), session_factory=session_factory
    )
    app.config.update(TESTING=True, WTF_CSRF_ENABLED=False)
    clock = {"now": NOW}
    app.extensions["billing_sync"].clock = lambda: clock["now"]
    client = app.test_client()
    response = login(client, "admin@acme.test")
    expires = parsedate_to_datetime(
        response.headers["Set-Cookie"].split("Expires=")[1].split(";")[0]
    )
    assert abs(expires - (datetime.now(UTC) + timedelta(hours=2))) < timedelta(minutes=5)

    clock["now"] = NOW + timedelta(hours=1, minutes=59)
    assert client.get("/").status_code == 200
    clock["now"] = NOW + timedelta(hours=2)
    assert client.get("/").status_code == 302


def test_a_session_without_a_token_is_refused(app, world, session_factory):
    with session_factory() as session:
        user_id = session.scalar(select(User.id).where(User.email == "admin@acme.test"))
    client = app.test_client()
    with client.session_transaction() as cookie:  # what a cookie from before tokens holds
        cookie["_user_id"] = str(user_id)
        cookie["signed_in_at"] = NOW.timestamp()

    assert client.get("/").status_code == 302


def test_an_account_from_before_tokens_gets_one_at_sign_in(app, world, session_factory):
    with session_factory.begin() as session:
        user = session.scalar(select(User).where(User.email == "admin@acme.test"))
        user.session_token = ""  # what the migration gives existing rows
    client = app.test_client()

    assert login(client, "admin@acme.test").status_code == 302
    assert client.get("/").status_code == 200
    with session_factory() as session:
        assert len(session.scalar(select(User.session_token).where(User.id == user.id))) == 43


def test_sign_in_gives_a_new_csrf_token(app, session_factory, world):
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    before = CSRF_INPUT.search(client.get("/login").get_data(as_text=True)).group(1)
    with client.session_transaction() as cookie:
        raw_before = cookie["csrf_token"]

    assert login(client, "admin@acme.test").status_code == 302
    with client.session_transaction() as cookie:
        assert "csrf_token" not in cookie or cookie["csrf_token"] != raw_before
    stale = client.post("/connection/integration", data={"enabled": "1", "csrf_token": before})
    assert stale.status_code == 400
    assert not _integration_enabled(session_factory, world.partner_id)
    page = client.get("/connection/").get_data(as_text=True)
    fresh = CSRF_INPUT.search(page).group(1)
    assert (
        client.post(
            "/connection/integration", data={"enabled": "1", "csrf_token": fresh}
        ).status_code
        == 302
    )


def test_the_session_hours_setting_is_read_and_checked():
    assert Settings.from_env({}).session_hours == 12
    assert Settings.from_env({"BILLING_SYNC_SESSION_HOURS": "1"}).session_hours == 1
    for bad in ("0", "721", "twelve", "1.5"):
        with pytest.raises(SettingsError, match="^BILLING_SYNC_SESSION_HOURS must be a whole"):
            Settings.from_env({"BILLING_SYNC_SESSION_HOURS": bad})

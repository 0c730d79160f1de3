"""The API tokens page: admins create (shown once) and revoke; viewers only read."""

from __future__ import annotations

import re

from sqlalchemy import select

from billing_sync.api_tokens import digest
from billing_sync.models import ApiToken
from tests.api.conftest import make_token
from tests.web.conftest import login
from web import create_app

TOKEN = re.compile(r'<code id="token-value">(bsk_[^<]+)</code>')


def test_an_admin_creates_a_token_shown_once_and_stored_as_a_digest(admin, session_factory):
    response = admin.post(
        "/tokens/", data={"name": "pusher", "scope": "write", "expires_days": "7"}
    )
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    token = TOKEN.search(response.get_data(as_text=True)).group(1)
    with session_factory() as session:
        row = session.scalars(select(ApiToken)).one()
    assert (row.token_hash, row.scope, row.name) == (digest(token), "write", "pusher")
    listing = admin.get("/tokens/").get_data(as_text=True)
    assert "pusher" in listing and token not in listing
    assert "Set-Cookie" not in response.headers or token not in response.headers["Set-Cookie"]


def test_bad_input_changes_nothing(admin, session_factory):
    for form in ({"scope": "root"}, {"scope": "read", "expires_days": "soon"}):
        response = admin.post("/tokens/", data={"name": "pusher", **form})
        assert response.status_code == 303  # back to the page: reload never posts it again
        page = admin.get(response.headers["Location"]).get_data(as_text=True)
        assert "No token created" in page and 'value="pusher"' in page
    with session_factory() as session:
        assert session.scalars(select(ApiToken)).all() == []


def test_an_admin_revokes_and_another_partners_token_is_not_found(admin, session_factory, world):
    ours = make_token(session_factory, world.partner_id, "read")
    theirs = make_token(session_factory, world.theirs_partner_id, "read")
    with session_factory() as session:
        ids = {r.token_hash: r.id for r in session.scalars(select(ApiToken))}
    assert admin.post(f"/tokens/{ids[digest(ours)]}/revoke").status_code == 302
    assert admin.post(f"/tokens/{ids[digest(theirs)]}/revoke").status_code == 302
    with session_factory() as session:
        revoked = {r.token_hash: r.revoked_at for r in session.scalars(select(ApiToken))}
    assert revoked[digest(ours)] is not None and revoked[digest(theirs)] is None


def test_a_viewer_reads_the_list_but_cannot_create_or_revoke(viewer, session_factory, world):
    make_token(session_factory, world.partner_id, "read")
    page = viewer.get("/tokens/")
    assert page.status_code == 200 and "Create token" not in page.get_data(as_text=True)
    assert viewer.post("/tokens/", data={"scope": "write"}).status_code == 403
    assert viewer.post("/tokens/1/revoke").status_code == 403


def test_the_forms_need_a_csrf_token(settings, session_factory, world):
    app = create_app(settings, session_factory=session_factory)  # CSRF on
    client = app.test_client()
    assert login(client, "admin@acme.test").status_code == 302
    assert client.post("/tokens/", data={"scope": "read"}).status_code == 400
    with session_factory() as session:
        assert session.scalars(select(ApiToken)).all() == []

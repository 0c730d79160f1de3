"""Security of the pages: sessions, roles, partner scoping, CSRF, the private key, private sites."""

from __future__ import annotations

import dataclasses
import logging

import pytest
from sqlalchemy import select

from billing_sync.models import CompanyMapping, Connection
from tests.web.conftest import PASSWORD, SIM_KEYS, connect, login
from web import create_app

PUBLIC = {"auth.login", "static", "api_docs.openapi_json", "api_docs.reference"} | {
    "ops.healthz",
    "ops.readyz",
    "ops.metrics",
}  # probes
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
PRIVATE_KEY = "PrivKey-Do-Not-Leak-7f3e"


def _url(rule, world) -> str:
    """A concrete URL for a rule, filling its arguments with our own partner's ids."""
    values = {
        "company_id": world.company_id,
        "run_id": world.run_id,
        "code": "pb-business",
        "product": "pb-business",
        "token_id": 1,
        "suggestion_id": 1,
        "filename": "style.css",
    }
    return rule.build({name: values[name] for name in rule.arguments})[1]


def _routes(app, methods):
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods & methods):
            yield rule, method


def test_every_route_but_login_needs_a_session(app, world):
    client = app.test_client()
    checked = 0
    for rule, method in _routes(app, {"GET", *WRITE_METHODS}):
        if rule.endpoint in PUBLIC:
            continue
        response = client.open(_url(rule, world), method=method)
        checked += 1
        if response.status_code == 302:
            assert "/login" in response.headers["Location"], rule.rule
        else:
            assert response.status_code == 401, (method, rule.rule)
    assert checked >= 25


def test_viewer_gets_403_on_every_write(app, world, viewer):
    writes = [
        (rule, method)
        for rule, method in _routes(app, WRITE_METHODS)
        if rule.endpoint not in {"auth.login", "auth.logout"}
        and not rule.endpoint.startswith("api.")  # Bearer only: a session gets 401 (tests/api)
    ]
    assert len(writes) >= 13
    for rule, method in writes:
        assert viewer.open(_url(rule, world), method=method).status_code == 403, rule.rule


@pytest.mark.parametrize(
    "path",
    ["/connection/", "/products/", "/companies/{company}", "/schedule/", "/sync/", "/usage/upload"],
)
def test_viewer_cannot_open_admin_pages(viewer, world, path):
    response = viewer.get(path.format(company=world.company_id))
    assert response.status_code == 403
    assert "This action needs an admin; you are signed in as a viewer." in response.get_data(
        as_text=True
    )


def test_viewer_reads_company_status_without_actions(viewer, world):
    page = viewer.get("/companies/").get_data(as_text=True)
    assert "Acme Dental" in page and "ambiguous additions 5, 6" in page
    assert "Read-only" in page
    for action in ("Auto-match all", "/automatch", "/exclude", "/include", "Edit Acme Dental"):
        assert action not in page, action


def test_viewer_reads_dashboard_runs_and_usage(viewer, world):
    for path in (
        "/",
        "/runs/",
        f"/runs/{world.run_id}",
        f"/runs/{world.run_id}/status.json",
        "/usage/",
        f"/usage/companies/{world.company_id}",
    ):
        response = viewer.get(path)
        assert response.status_code == 200, path
    page = viewer.get("/").get_data(as_text=True)
    assert "/connection/" not in page and "Sign out" in page


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/companies/{company}"),
        ("POST", "/companies/{company}/map"),
        ("POST", "/companies/{company}/exclude"),
        ("POST", "/companies/{company}/include"),
        ("GET", "/runs/{run}"),
        ("GET", "/runs/{run}/status.json"),
        ("GET", "/sync/preview/{run}"),
        ("GET", "/usage/companies/{company}"),
    ],
)
def test_another_partners_ids_are_not_found(admin, world, session_factory, method, path):
    url = path.format(company=world.theirs_company_id, run=world.theirs_run_id)
    response = admin.open(url, method=method, data={"cw_company_id": "7", "agreement_id": "70"})
    assert response.status_code == 404
    assert "Globex" not in response.get_data(as_text=True)
    with session_factory() as session:
        mapping = session.scalar(
            select(CompanyMapping).where(CompanyMapping.company_id == world.theirs_company_id)
        )
        assert mapping.status == "mapped"


def test_forms_without_a_valid_csrf_token_get_400(app):
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    bare = client.post("/login", data={"email": "admin@acme.test", "password": PASSWORD})
    assert bare.status_code == 400
    assert login(client, "admin@acme.test").status_code == 302
    assert client.post("/connection/integration", data={"enabled": "1"}).status_code == 400
    forged = {"enabled": "1", "csrf_token": "forged"}
    assert client.post("/connection/integration", data=forged).status_code == 400
    page = client.get("/connection/").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    sent = client.post("/connection/integration", data={"enabled": "1", "csrf_token": token})
    assert sent.status_code == 302


def _save_connection(client, site="http://127.0.0.1:9", private_key=PRIVATE_KEY, **extra):
    form = {
        "site": site,
        "company_id": "training",
        "public_key": "pub",
        "private_key": private_key,
        "client_id": "5f1e6a3c-0000-4000-8000-000000000001",
    }
    return client.post("/connection/", data={**form, **extra})


def test_private_key_is_never_rendered_nor_logged(app, admin, world, simulator, caplog):
    caplog.set_level(logging.DEBUG)
    bodies = [_save_connection(admin, client_id="not-a-guid").get_data(as_text=True)]
    assert _save_connection(admin, site=simulator.site).status_code == 302
    authenticate = {**SIM_KEYS, "site": simulator.site, "private_key": PRIVATE_KEY}
    bodies.append(
        admin.post("/connection/authenticate", data=authenticate, follow_redirects=True).get_data(
            as_text=True
        )
    )  # the simulator knows another key: a failed check
    assert "Check the ConnectWise site" in bodies[-1]
    assert connect(admin, simulator.site, private_key=PRIVATE_KEY).status_code == 302
    simulator.state.private_key = PRIVATE_KEY
    bodies.append(
        admin.post("/connection/authenticate", data=authenticate, follow_redirects=True).get_data(
            as_text=True
        )
    )
    assert "These credentials work" in bodies[-1]
    for rule, _ in _routes(app, {"GET"}):
        if rule.endpoint != "static":
            bodies.append(admin.get(_url(rule, world)).get_data(as_text=True))
    assert all(PRIVATE_KEY not in body for body in bodies)
    assert "ending in 7f3e" in admin.get("/connection/").get_data(as_text=True)
    assert all(PRIVATE_KEY not in record.getMessage() for record in caplog.records)
    assert PRIVATE_KEY not in caplog.text


def test_empty_private_key_keeps_the_stored_one(admin, session_factory):
    assert _save_connection(admin).status_code == 302
    with session_factory() as session:
        stored = session.scalar(select(Connection.private_key_encrypted))
    assert _save_connection(admin, private_key="").status_code == 302
    with session_factory() as session:
        assert session.scalar(select(Connection.private_key_encrypted)) == stored
        assert PRIVATE_KEY not in stored


@pytest.mark.parametrize("site", ["http://127.0.0.1:8123", "https://10.1.2.3", "https://[::1]"])
def test_private_site_refused_unless_allowed(settings, session_factory, world, site):
    strict = dataclasses.replace(settings, allow_private_hosts=False)
    app = create_app(strict, session_factory=session_factory)
    app.config.update(TESTING=True, WTF_CSRF_ENABLED=False)
    client = app.test_client()
    login(client, "admin@acme.test")
    response = _save_connection(client, site=site)
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "BILLING_SYNC_ALLOW_PRIVATE_HOSTS" in page or "plain http" in page
    with session_factory() as session:
        assert session.scalar(select(Connection)) is None


def test_private_site_accepted_when_allowed(admin, session_factory):
    assert _save_connection(admin, site="http://127.0.0.1:8123").status_code == 302
    with session_factory() as session:
        assert session.scalar(select(Connection.site)) == "http://127.0.0.1:8123"


def test_failed_logins_are_rate_limited(settings, session_factory, world):
    app = create_app(
        dataclasses.replace(settings, login_rate_limit="3/5m"), session_factory=session_factory
    )
    app.config.update(TESTING=True, WTF_CSRF_ENABLED=False)
    client = app.test_client()
    for _ in range(3):
        assert login(client, "admin@acme.test", "wrong password").status_code == 401
    locked = login(client, "admin@acme.test")
    assert locked.status_code == 429 and 0 < int(locked.headers["Retry-After"]) <= 300
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    # Another e-mail from another address is not blocked (tests/web/test_login_throttling.py
    # covers each key on its own).
    assert login(elsewhere, "viewer@acme.test").status_code == 302


def test_session_cookie_flags(settings, session_factory, world):
    app = create_app(
        dataclasses.replace(settings, session_cookie_secure=True), session_factory=session_factory
    )
    app.config.update(TESTING=True, WTF_CSRF_ENABLED=False)
    response = login(app.test_client(), "admin@acme.test")
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_login_does_not_redirect_off_site(app):
    client = app.test_client()
    response = client.post(
        "/login?next=//evil.example/x", data={"email": "admin@acme.test", "password": PASSWORD}
    )
    assert response.headers["Location"] == "/"

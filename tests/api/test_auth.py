"""Who may call /api/v1: Bearer tokens only, scoped to one partner, read or write."""

from __future__ import annotations

import logging

import pytest

from tests.api.conftest import ApiClient, login
from tests.web.conftest import PASSWORD
from web import create_app

SEAT = {
    "company_id": "C1",
    "company_name": "Acme Dental",
    "user_id": "u1",
    "user_email": "u1@acme.test",
    "product": "pb-business",
    "active_from": "2026-01-05T09:00:00Z",
    "active_to": None,
}
READS = ["/api/v1/counts", "/api/v1/companies", "/api/v1/runs", "/api/v1/runs/{run}"]
WRITES = [
    ("PUT", "/api/v1/seats", {"seats": [SEAT]}),
    (
        "PUT",
        "/api/v1/companies/C1/products/pb-business/users",
        {"as_of": "2026-03-01T00:00:00Z", "company_name": "Acme Dental", "users": []},
    ),
    ("POST", "/api/v1/syncs", {"dry_run": True}),
]


def _every_request(world):
    yield from (("GET", path.format(run=world.run_id), None) for path in READS)
    yield from WRITES


@pytest.mark.parametrize(
    "which, detail",
    [
        (None, "send the header Authorization: Bearer <token>"),
        ("unknown", "the token is not known"),
        ("revoked", "the token is revoked"),
        ("expired", "the token is expired"),
    ],
)
def test_every_endpoint_refuses_a_missing_unknown_revoked_or_expired_token_with_401(
    anonymous, tokens, world, which, detail
):
    token = None if which is None else getattr(tokens, which, "bsk_not-a-token")
    for method, path, body in _every_request(world):
        response = anonymous.request(method, path, token=token, json=body)
        assert response.status_code == 401, (method, path)
        assert response.mimetype == "application/problem+json"
        problem = response.get_json()
        assert (problem["status"], problem["detail"]) == (401, detail)
        assert problem["type"].endswith("#problem-unauthorized")
        assert response.headers["WWW-Authenticate"].startswith('Bearer realm="billing-sync"')


def test_another_scheme_is_no_token(anonymous, tokens):
    response = anonymous.get(
        "/api/v1/companies", token=None, headers={"Authorization": f"Basic {tokens.write}"}
    )
    assert response.status_code == 401


def test_a_read_token_reads_but_every_write_is_403(reader, world, session_factory):
    for method, path, _ in _every_request(world):
        if method == "GET":
            assert reader.get(path).status_code == 200, path
    for method, path, body in WRITES:
        response = reader.request(method, path, json=body)
        assert response.status_code == 403, path
        assert "read scope" in response.get_json()["detail"]
    from sqlalchemy import func, select

    from billing_sync.models import Seat

    with session_factory() as session:
        assert session.scalar(select(func.count(Seat.id))) == 0


def test_a_signed_in_browser_cookie_opens_nothing_under_api_v1(app, world, checker):
    browser = app.test_client()
    assert login(browser, "admin@acme.test", PASSWORD).status_code == 302
    assert browser.get("/").status_code == 200  # the cookie works on the pages
    for method, path, body in _every_request(world):
        response = browser.open(path, method=method, json=body)
        checker.check(method, path, response)
        assert response.status_code == 401, path


def test_the_api_needs_no_csrf_token_and_sets_no_cookie(settings, session_factory, world, tokens):
    app = create_app(settings, session_factory=session_factory)  # CSRF on, as in production
    client = ApiClient(app, tokens.write, None)
    client.checker = type("NoCheck", (), {"check": lambda *a: None})()
    response = client.put("/api/v1/seats", json={"seats": [SEAT]})
    assert response.status_code == 200, response.get_json()
    assert "Set-Cookie" not in response.headers
    assert app.test_client().post("/sync/now").status_code in (302, 400)  # pages keep CSRF


def test_a_token_never_appears_in_an_answer_or_a_log_line(api, anonymous, tokens, world, caplog):
    caplog.set_level(logging.DEBUG)
    answers = [
        api.request(m, p, json=b).get_data(as_text=True) for m, p, b in _every_request(world)
    ]
    answers.append(anonymous.get("/api/v1/runs", token=tokens.revoked).get_data(as_text=True))
    for secret in (tokens.write, tokens.revoked):
        assert all(secret not in answer for answer in answers)
        assert secret not in caplog.text


def test_other_partners_ids_answer_404_and_never_their_data(api, world):
    response = api.get(f"/api/v1/runs/{world.theirs_run_id}")
    assert response.status_code == 404
    assert "Globex" not in response.get_data(as_text=True)
    listed = api.get("/api/v1/runs").get_json()["runs"]
    assert [run["run_id"] for run in listed] == [world.run_id]
    companies = api.get("/api/v1/companies").get_json()["companies"]
    assert [c["company_id"] for c in companies] == ["acme-1"]
    # their company's vendor id, without a name to create ours: not found, theirs untouched
    snapshot = {"as_of": "2026-03-01T00:00:00Z", "users": [{"user_id": "x"}]}
    response = api.put("/api/v1/companies/globex-1/products/pb-business/users", json=snapshot)
    assert response.status_code == 404
    assert "Globex" not in response.get_data(as_text=True)


def test_unknown_urls_and_methods_under_the_api_are_problems(anonymous):
    assert anonymous.client.get("/api/v1/nothing").mimetype == "application/problem+json"
    response = anonymous.client.delete("/api/v1/seats")
    assert (response.status_code, response.mimetype) == (405, "application/problem+json")
    assert "PUT" in response.headers["Allow"]

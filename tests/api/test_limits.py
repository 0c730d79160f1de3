"""Per-token rate limits on /api/v1 (429 with Retry-After), counted apart from sign-ins."""

from __future__ import annotations

import dataclasses

from tests.api.conftest import ApiClient
from web import create_app


def make(settings, session_factory, rate: str):
    app = create_app(
        dataclasses.replace(settings, api_rate_limit=rate), session_factory=session_factory
    )
    app.config.update(TESTING=True)
    return app


def test_each_token_has_its_own_budget_and_429_says_when_to_retry(
    settings, session_factory, world, tokens, checker
):
    app = make(settings, session_factory, "3/minute")
    ours = ApiClient(app, tokens.write, checker)
    assert [ours.get("/api/v1/companies").status_code for _ in range(3)] == [200] * 3
    refused = ours.get("/api/v1/runs")
    assert refused.status_code == 429
    assert refused.get_json()["type"].endswith("#problem-rate-limited")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    theirs = ApiClient(app, tokens.theirs, checker)
    assert theirs.get("/api/v1/companies").status_code == 200  # another token, another count
    assert app.test_client().get("/login").status_code == 200  # pages are not limited


def test_requests_without_a_token_are_counted_per_address(
    settings, session_factory, world, checker
):
    app = make(settings, session_factory, "2 per 1 minute")
    anonymous = ApiClient(app, None, checker)
    assert [anonymous.get("/api/v1/runs").status_code for _ in range(3)] == [401, 401, 429]

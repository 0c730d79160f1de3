"""API fixtures: the web world (two partners), tokens of each scope, a checking client."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from billing_sync.api_tokens import create_token, list_tokens, revoke_token
from billing_sync.models import Partner
from tests.support.api_openapi import ResponseChecker
from tests.web import conftest as web
from tests.web.conftest import NOW, connect, login

__all__ = ["NOW", "ApiClient", "connect", "login"]
# The web tests' world (partners acme and globex), app and simulator, shared as they are.
world, app, admin, viewer = web.world, web.app, web.admin, web.viewer
sim_state, simulator = web.sim_state, web.simulator


@dataclass(frozen=True)
class Tokens:
    """Tokens of partner acme (ours) and one of globex (theirs)."""

    write: str
    read: str
    theirs: str
    revoked: str
    expired: str


def make_token(session_factory, partner_id: int, scope: str, **kwargs) -> str:
    with session_factory.begin() as session:
        partner = session.get(Partner, partner_id)
        _row, token = create_token(
            session, partner, scope=scope, now=kwargs.pop("now", NOW), **kwargs
        )
    return token


@pytest.fixture
def tokens(session_factory, world) -> Tokens:
    revoked = make_token(session_factory, world.partner_id, "write", name="old")
    with session_factory.begin() as session:
        row = list_tokens(session, world.partner_id)[0]
        revoke_token(session, world.partner_id, row.id, now=NOW)
    return Tokens(
        write=make_token(session_factory, world.partner_id, "write"),
        read=make_token(session_factory, world.partner_id, "read"),
        theirs=make_token(session_factory, world.theirs_partner_id, "write"),
        revoked=revoked,
        expired=make_token(
            session_factory,
            world.partner_id,
            "write",
            expires_days=1,
            now=NOW - timedelta(days=2),
        ),
    )


class ApiClient:
    """The Flask test client with a token, checking every answer against the OpenAPI document."""

    def __init__(self, app, token: str | None, checker: ResponseChecker) -> None:
        self.client = app.test_client()
        self.token = token
        self.checker = checker

    def request(self, method: str, path: str, *, token: str | None = "default", **kwargs):
        headers = dict(kwargs.pop("headers", {}))
        token = self.token if token == "default" else token
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        response = self.client.open(path, method=method, headers=headers, **kwargs)
        self.checker.check(method, path.split("?")[0], response)
        return response

    def get(self, path: str, **kwargs):
        return self.request("GET", path, **kwargs)

    def put(self, path: str, **kwargs):
        return self.request("PUT", path, **kwargs)

    def post(self, path: str, **kwargs):
        return self.request("POST", path, **kwargs)


@pytest.fixture
def checker(app) -> ResponseChecker:
    return ResponseChecker(app.test_client().get("/api/v1/openapi.json").get_json())


@pytest.fixture
def api(app, tokens, checker) -> ApiClient:
    """A write token of partner acme."""
    return ApiClient(app, tokens.write, checker)


@pytest.fixture
def reader(app, tokens, checker) -> ApiClient:
    """A read token of partner acme."""
    return ApiClient(app, tokens.read, checker)


@pytest.fixture
def anonymous(app, checker) -> ApiClient:
    """No token at all."""
    return ApiClient(app, None, checker)

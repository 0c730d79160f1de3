"""Bearer tokens for /api/v1: who is asking, whether the scope allows it, whose rate it counts."""

from __future__ import annotations

import hashlib

from flask import g, request
from flask_limiter.util import get_remote_address

from billing_sync.api_tokens import TokenIdentity, TokenRefused, authenticate_token
from web.api.problems import problem
from web.state import db, now, state

READ_METHODS = {"GET", "HEAD", "OPTIONS"}
CHALLENGE = 'Bearer realm="billing-sync"'


def presented_token() -> str | None:
    """The token in `Authorization: Bearer <token>`, or None; cookies never count."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def rate_key() -> str:
    """Requests count per token (by digest: the store never holds a token), else per address."""
    token = presented_token()
    if token is None:
        return f"address:{get_remote_address()}"
    return "token:" + hashlib.sha256(token.encode()).hexdigest()[:32]


def _refused(detail: str):
    challenge = f'{CHALLENGE}, error="invalid_token"' if presented_token() else CHALLENGE
    return problem(401, detail, headers={"WWW-Authenticate": challenge})


def authenticate():
    """Before every API request: cap the body, then require a usable token of enough scope."""
    request.max_content_length = state().settings.api_max_body_mb * 1024 * 1024
    token = presented_token()
    if token is None:
        return _refused("send the header Authorization: Bearer <token>")
    try:
        g.api_identity = authenticate_token(db(), token, now=now())
    except TokenRefused as exc:
        db().rollback()
        return _refused(str(exc))
    db().commit()  # the last-used time
    if request.method not in READ_METHODS and not identity().allows("write"):
        return problem(403, "this token has the read scope; this request needs a write token")
    return None


def identity() -> TokenIdentity:
    """The token behind the current request."""
    return g.api_identity

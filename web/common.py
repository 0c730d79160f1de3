"""Small helpers the blueprints share: the signed-in partner, argument parsing, error flashes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace

from flask import flash, request
from flask_login import current_user

from billing_sync.connectwise.errors import ConnectWiseError
from billing_sync.crypto import SecretDecryptError
from billing_sync.errors import InvalidInput, NotFoundError
from billing_sync.models import Partner
from web.state import db


def partner() -> Partner:
    """The signed-in user's partner (every query below is scoped by its id)."""
    return db().get(Partner, current_user.partner_id)


def partner_id() -> int:
    """The signed-in user's partner id."""
    return current_user.partner_id


def int_arg(name: str, default: int = 1, *, source=None) -> int:
    """A positive integer query/form argument, or the default when absent or malformed."""
    raw = (source if source is not None else request.args).get(name, "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else default


def form_int(name: str) -> int | None:
    """A positive integer form field, or None."""
    raw = request.form.get(name, "").strip()
    return int(raw) if raw.isdigit() else None


def flash_cw_error(exc: ConnectWiseError) -> None:
    """Show a ConnectWise failure with what to do about it."""
    flash(f"ConnectWise: {exc} — {exc.advice}", "error")


@contextmanager
def saving() -> Iterator[SimpleNamespace]:
    """Commit when the block succeeds; otherwise roll back and flash why (outcome.ok says which)."""
    outcome = SimpleNamespace(ok=False)
    try:
        yield outcome
    except (InvalidInput, NotFoundError, SecretDecryptError) as exc:
        db().rollback()
        flash(str(exc), "error")
    except ConnectWiseError as exc:
        db().rollback()
        flash_cw_error(exc)
    else:
        db().commit()
        outcome.ok = True

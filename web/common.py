"""Small helpers the blueprints share: the signed-in partner, argument parsing, error flashes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace

from flask import flash, request
from flask_login import current_user

from billing_sync.connectwise.client import ConnectWiseClient
from billing_sync.connectwise.errors import ConnectWiseError, DeadlineExceeded, TransientError
from billing_sync.crypto import SecretDecryptError
from billing_sync.errors import InvalidInput, NotFoundError
from billing_sync.models import Partner
from billing_sync.partner_connection import client_for
from web.state import db, state


class ConnectWiseBusy(TransientError):
    """The partner's pages already wait on as many ConnectWise calls as they may."""

    advice = "Wait for your other pages to load (ConnectWise is slow right now), then try again."


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


@contextmanager
def connectwise_turn() -> Iterator[float]:
    """Hold one of the partner's ConnectWise slots; yields the seconds the page may wait.

    Raises ConnectWiseBusy when the partner's other pages hold every slot.
    """
    with state().cw_slots.hold(partner_id()) as free:
        if not free:
            raise ConnectWiseBusy("ConnectWise is still answering your other pages.")
        yield state().settings.cw_page_timeout_seconds


@contextmanager
def page_client() -> Iterator[ConnectWiseClient]:
    """A ConnectWise client for this page: everything it does ends within the page's wait."""
    with (
        connectwise_turn() as within,
        client_for(db(), state().settings, partner_id(), within=within) as client,
    ):
        yield client


def cw_problem(exc: ConnectWiseError) -> str:
    """A ConnectWise failure as a page says it, with what to do about it."""
    if isinstance(exc, DeadlineExceeded):
        seconds = state().settings.cw_page_timeout_seconds
        return (
            f"ConnectWise is too slow right now: it did not answer within {seconds:g} s. "
            "Try again in a moment (the billing-sync command line waits longer)."
        )
    return f"ConnectWise: {exc} — {exc.advice}"


def flash_cw_error(exc: ConnectWiseError) -> None:
    """Show a ConnectWise failure with what to do about it."""
    flash(cw_problem(exc), "error")


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

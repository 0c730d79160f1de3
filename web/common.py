"""Small helpers the blueprints share: the signed-in partner, argument parsing, error flashes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace

from flask import flash, redirect, request, session
from flask_login import current_user

from billing_sync import validation
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


SEARCH_LENGTH = 100  # a search box's text, also when it is carried on in a redirect
ECHO_LENGTH = 255  # the longest column a form fills: a refused form repeats no more than that


def partner() -> Partner:
    """The signed-in user's partner (every query below is scoped by its id)."""
    return db().get(Partner, current_user.partner_id)


def partner_id() -> int:
    """The signed-in user's partner id."""
    return current_user.partner_id


def page_arg() -> int:
    """The ?page= argument: 1 when absent; InvalidInput (a 400 page) when it is no page number."""
    return validation.page(request.args.get("page"))


def id_arg(name: str, *, form: bool = False) -> int | None:
    """An id from the query (or the form): None when absent; InvalidInput when it is no id."""
    raw = (request.form if form else request.args).get(name, "").strip()
    return validation.record_id(raw, name) if raw else None


def search_arg(name: str = "q", default: str = "", *, form: bool = False) -> str:
    """A search box's text, trimmed to SEARCH_LENGTH characters."""
    return (request.form if form else request.args).get(name, default).strip()[:SEARCH_LENGTH]


def echoed(values: dict[str, str]) -> dict[str, str]:
    """A refused form's values as the page shows them again: each cut to ECHO_LENGTH."""
    return {name: value[:ECHO_LENGTH] for name, value in values.items()}


REFUSED_FORM = "refused_form"  # session key: what a refused form carries to the page it returns to


def refused(target: str, values: dict[str, str] | None = None, **extra):
    """Send a refused form back to its page (303, so Back and reload never post it again).

    The flash already says why; `values` (never a secret: callers leave those out) and `extra`
    come back once, on the next GET of `target`, through `recalled()`.
    """
    session[REFUSED_FORM] = {"path": target, "values": echoed(values or {}), **extra}
    return redirect(target, code=303)


def recalled() -> dict:
    """What the form refused just before carried to this page, once; {} otherwise."""
    stash = session.pop(REFUSED_FORM, None)
    if not isinstance(stash, dict) or stash.get("path") != request.full_path.rstrip("?"):
        return {}
    return stash


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

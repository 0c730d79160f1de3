"""The ConnectWise connection page: credentials (private key write-only), Authenticate, switch."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from billing_sync.connectwise.errors import ConfigurationError, ConnectWiseError
from billing_sync.crypto import SecretDecryptError
from billing_sync.errors import InvalidInput, NotFoundError
from billing_sync.partner_connection import (
    ConnectionForm,
    check_and_save,
    get_connection,
    save_connection,
    site_notes,
)
from billing_sync.partners import set_integration
from web.common import connectwise_turn, cw_problem, partner, partner_id, recalled, refused
from web.state import db, now, state

bp = Blueprint("connection", __name__, url_prefix="/connection")
FIELDS = ("site", "company_id", "public_key", "client_id")  # the private key is never shown


@bp.get("/")
def show():
    """The connection form and status; a refused form's values (not the key) come back."""
    connection = get_connection(db(), partner_id())
    values = recalled().get("values")
    if values is None and connection is not None:
        values = {name: getattr(connection, name) or "" for name in FIELDS}
    return render_template(
        "connection.html", connection=connection, partner=partner(), values=values or {}
    )


def _typed() -> tuple[dict[str, str], ConnectionForm]:
    values = {name: request.form.get(name, "") for name in FIELDS}
    form = ConnectionForm(private_key=request.form.get("private_key") or None, **values)
    return values, form


def _saved_as(site: str, typed_site: str) -> str:
    notes = site_notes(typed_site)
    return f" The site was saved as {site}: {'; '.join(notes)}." if notes else ""


@bp.post("/")
def save():
    """Validate and store the connection; an empty private key keeps the stored one."""
    values, form = _typed()
    try:
        connection = save_connection(db(), state().settings, partner(), form, now=now())
    except InvalidInput as exc:
        db().rollback()
        flash(f"Not saved: {exc}", "error")
        return refused(url_for(".show"), values)
    db().commit()
    flash(
        "Connection saved; it is not checked yet: use Authenticate to check it."
        + _saved_as(connection.site, values["site"]),
        "success",
    )
    return redirect(url_for(".show"))


@bp.post("/authenticate")
def check():
    """Call ConnectWise /system/info with the values in the form; save them if they work."""
    values, form = _typed()
    try:
        with connectwise_turn() as within:
            outcome = check_and_save(
                db(), state().settings, partner(), form, now=now(), within=within
            )
    except (InvalidInput, NotFoundError, SecretDecryptError) as exc:
        db().rollback()
        flash(f"Not checked, nothing saved: {exc}", "error")
        return refused(url_for(".show"), values)
    except ConnectWiseError as exc:  # all of this partner's ConnectWise slots are busy
        flash(f"Not checked, nothing saved: {cw_problem(exc)}", "error")
        return refused(url_for(".show"), values)
    db().commit()  # the saved values, or a failed check of the stored ones
    if outcome.error is not None:
        flash(_not_working(outcome.error, typed_key=bool(form.private_key)), "error")
        # A failed check of the stored values is an outcome, not a refused form.
        return redirect(url_for(".show")) if outcome.noted else refused(url_for(".show"), values)
    site = get_connection(db(), partner_id()).site
    flash(
        f"These credentials work (ConnectWise version {outcome.info.version}) and are saved."
        + _saved_as(site, values["site"]),
        "success",
    )
    return redirect(url_for(".show"))


def _not_working(exc: ConnectWiseError, *, typed_key: bool) -> str:
    verdict = (
        "These credentials do not work"
        if isinstance(exc, ConfigurationError)
        else "ConnectWise could not be reached to check these credentials"
    )
    again = " Type the private key again." if typed_key else ""
    return f"{verdict}; nothing was saved. {cw_problem(exc)}{again}"


@bp.post("/integration")
def integration():
    """Switch writing to ConnectWise on or off."""
    enabled = request.form.get("enabled") == "1"
    set_integration(partner(), enabled)
    db().commit()
    flash(
        "Integration is on: runs write to ConnectWise."
        if enabled
        else "Integration is off: runs write nothing to ConnectWise.",
        "success",
    )
    return redirect(url_for(".show"))

"""The ConnectWise connection page: credentials (private key write-only), Authenticate, switch."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from billing_sync.connectwise.errors import ConnectWiseError
from billing_sync.crypto import SecretDecryptError
from billing_sync.errors import InvalidInput, NotFoundError
from billing_sync.partner_connection import (
    ConnectionForm,
    authenticate,
    get_connection,
    save_connection,
)
from billing_sync.partners import set_integration
from web.common import connectwise_turn, echoed, flash_cw_error, partner, partner_id
from web.state import db, now, state

bp = Blueprint("connection", __name__, url_prefix="/connection")
FIELDS = ("site", "company_id", "public_key", "client_id")


def _render(values: dict[str, str] | None = None, status: int = 200):
    connection = get_connection(db(), partner_id())
    if values is None and connection is not None:
        values = {name: getattr(connection, name) or "" for name in FIELDS}
    return render_template(
        "connection.html", connection=connection, partner=partner(), values=values or {}
    ), status


@bp.get("/")
def show():
    """The connection form and status."""
    return _render()


@bp.post("/")
def save():
    """Validate and store the connection; an empty private key keeps the stored one."""
    values = {name: request.form.get(name, "") for name in FIELDS}
    form = ConnectionForm(private_key=request.form.get("private_key") or None, **values)
    try:
        save_connection(db(), state().settings, partner(), form, now=now())
    except InvalidInput as exc:
        db().rollback()
        flash(str(exc), "error")
        return _render(echoed(values), 422)
    db().commit()
    flash("Connection saved. Use Authenticate to check it.", "success")
    return redirect(url_for(".show"))


@bp.post("/authenticate")
def check():
    """Call ConnectWise /system/info with the stored credentials and show the outcome."""
    try:
        with connectwise_turn() as within:
            info = authenticate(db(), state().settings, partner_id(), now=now(), within=within)
    except (NotFoundError, SecretDecryptError) as exc:
        flash(str(exc), "error")
    except ConnectWiseError as exc:
        db().commit()  # keep the failed check's outcome on the connection
        flash_cw_error(exc)
    else:
        db().commit()
        flash(f"Authenticated: ConnectWise version {info.version}.", "success")
    return redirect(url_for(".show"))


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

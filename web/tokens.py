"""API tokens page: admins create (the token shown once) and revoke; viewers read the list."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from billing_sync import api_tokens
from billing_sync.errors import InvalidInput
from billing_sync.validation import whole_number
from web.common import partner, partner_id, recalled, refused, saving
from web.state import db, now

bp = Blueprint("tokens", __name__, url_prefix="/tokens")


def _page(new_token: str | None = None, status: int = 200, values: dict | None = None):
    rows = api_tokens.list_tokens(db(), partner_id())
    at = now()
    listed = [(row, api_tokens.token_status(row, at)) for row in rows]
    page = render_template(
        "tokens.html",
        tokens=listed,
        new_token=new_token,
        scopes=api_tokens.SCOPES,
        partner=partner(),
        values=values or {},
    )
    # The page with a new token must not be kept by a browser or a proxy.
    return page, status, {"Cache-Control": "no-store"}


@bp.get("/")
def index():
    """The partner's tokens: name, scope, status, created, expires, last used."""
    return _page(values=recalled().get("values"))


@bp.post("/")
def create():
    """Create a token and show it on this answer only (never stored, never flashed)."""
    raw_days = request.form.get("expires_days", "").strip()
    values = {name: request.form.get(name, "") for name in ("name", "scope", "expires_days")}
    try:
        days = (
            whole_number(raw_days, "expiry in days", high=api_tokens.MAX_EXPIRY_DAYS)
            if raw_days
            else None
        )
        _row, token = api_tokens.create_token(
            db(),
            partner(),
            name=request.form.get("name", ""),
            scope=request.form.get("scope", "read"),
            expires_days=days,
            now=now(),
        )
    except InvalidInput as exc:
        db().rollback()
        flash(f"No token created: {exc}", "error")
        return refused(url_for(".index"), values)
    db().commit()
    flash("Token created. Copy it now: it is not shown again.", "success")
    return _page(new_token=token, status=201)


@bp.post("/<id:token_id>/revoke")
def revoke(token_id: int):
    """Revoke a token at once (another partner's id is not found)."""
    with saving() as outcome:
        api_tokens.revoke_token(db(), partner_id(), token_id, now=now())
    if outcome.ok:
        flash(f"Token {token_id} revoked.", "success")
    return redirect(url_for(".index"))

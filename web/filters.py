"""Template filters: instants in the partner's zone, quantities without needless decimals."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask, g
from flask_login import current_user

from billing_sync.models import Partner
from web.state import db


def partner_zone() -> str:
    """The signed-in partner's IANA zone (UTC before sign-in), read once per request."""
    if "partner_zone" not in g:
        partner = (
            db().get(Partner, current_user.partner_id) if current_user.is_authenticated else None
        )
        g.partner_zone = partner.timezone if partner is not None else "UTC"
    return g.partner_zone


def localtime(value: datetime | None, tz: str | None = None) -> str:
    """An instant on the wall clock of `tz` (the partner's by default): 2026-03-09 02:30 EDT."""
    if value is None:
        return "—"
    return value.astimezone(ZoneInfo(tz or partner_zone())).strftime("%Y-%m-%d %H:%M %Z")


def quantity(value: float | None) -> str:
    """17.0 -> "17"; None -> "—"."""
    if value is None:
        return "—"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def from_json(value: str | None) -> list:
    """A stored JSON list (run warnings); anything else shown as one line."""
    if not value:
        return []
    try:
        loaded = json.loads(value)
    except ValueError:
        return [value]
    return loaded if isinstance(loaded, list) else [str(loaded)]


def init_app(app: Flask) -> None:
    """Register the filters, and `partner_zone` for column headers that name the zone."""
    app.add_template_filter(from_json)
    app.add_template_filter(localtime)
    app.add_template_filter(quantity)
    app.add_template_global(partner_zone)

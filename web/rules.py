"""Hold rules and the drift policy: the partner's form and one company's override."""

from __future__ import annotations

import re
from dataclasses import asdict

from flask import Blueprint, flash, redirect, request, url_for

from billing_sync import guard_queries
from billing_sync.errors import InvalidInput
from billing_sync.guard_rules import (
    COMPANY_FIELDS,
    DEFAULT_RULES,
    DRIFT_POLICIES,
    rules_for,
    save_rules,
)
from billing_sync.models import GuardRule
from billing_sync.page_queries import get_company
from web.common import partner_id, recalled, refused
from web.state import db, now

bp = Blueprint("rules", __name__, url_prefix="/rules")
PARTNER_FIELDS = (*COMPANY_FIELDS, "first_run_total", "drift_policy")
LABELS = {
    "rise_percent": "Rise, per cent",
    "rise_users": "Rise, users",
    "fall_percent": "Fall, per cent",
    "fall_users": "Fall, users",
    "hold_zero": "Hold a change to zero",
    "first_run_total": "First run, total users",
    "drift_policy": "Hand edits",
}
FORM = "rules"  # marks a refused rules form, so the schedule form does not take its values
_NUMBER = re.compile(r"[0-9]{1,9}(\.[0-9]{1,4})?")
_WHOLE = re.compile(r"[0-9]{1,9}")


def _parsed(name: str, raw: str):
    """One typed form value (blank: None, the default), or InvalidInput naming the field."""
    raw = raw.strip()
    if not raw:
        return None
    if name.endswith("_percent"):
        if not _NUMBER.fullmatch(raw):
            raise InvalidInput(f"{LABELS[name]} must be a number like 50 or 12.5")
        return float(raw)
    if name in ("rise_users", "fall_users", "first_run_total"):
        if not _WHOLE.fullmatch(raw):
            raise InvalidInput(f"{LABELS[name]} must be a whole number like 10")
        return int(raw)
    if name == "hold_zero":
        if raw not in ("yes", "no"):
            raise InvalidInput(f"{LABELS[name]}: choose yes, no or the default")
        return raw == "yes"
    if raw not in DRIFT_POLICIES:
        raise InvalidInput(f"{LABELS[name]}: choose overwrite, hold or adopt")
    return raw


def _form_values(names: tuple[str, ...]) -> dict[str, str]:
    return {name: request.form.get(name, "") for name in names}


def _save(company_id: int | None, names: tuple[str, ...], back: str):
    """Parse and save, or flash why not and change nothing."""
    raw = _form_values(names)
    try:
        values = {name: _parsed(name, raw[name]) for name in names}
        save_rules(db(), partner_id(), company_id, values, now=now())
    except InvalidInput as exc:
        db().rollback()
        flash(f"Hold rules not saved: {exc}", "error")
        return refused(back, raw, form=FORM)
    db().commit()
    return None


def _shown(row: GuardRule | None, names: tuple[str, ...]) -> dict[str, str]:
    """A stored rule row as the form shows it (unset: blank, meaning the default)."""
    values = {}
    for name in names:
        value = getattr(row, name) if row is not None else None
        if value is None:
            values[name] = ""
        elif name == "hold_zero":
            values[name] = "yes" if value else "no"
        elif isinstance(value, float):
            values[name] = f"{value:g}"
        else:
            values[name] = str(value)
    return values


def _refused_values(back: dict) -> dict[str, str]:
    """A refused rules form's values (from `recalled()`), or {} when back is another form's."""
    return back.get("values", {}) if back.get("form") == FORM else {}


def partner_rules_context(back: dict) -> dict:
    """What the schedule page shows of the rules: in force, stored, defaults, overrides."""
    stored = guard_queries.partner_rule(db(), partner_id())
    return {
        "rules": rules_for(db(), partner_id()).partner,
        "rule_values": _refused_values(back) or _shown(stored, PARTNER_FIELDS),
        "rule_defaults": asdict(DEFAULT_RULES),
        "rule_labels": LABELS,
        "drift_policies": DRIFT_POLICIES,
        "overrides": guard_queries.company_overrides(db(), partner_id()),
    }


def company_rules_context(company_id: int) -> dict:
    """What a company's page shows of its override of the hold thresholds."""
    shown = _shown(guard_queries.company_rule(db(), partner_id(), company_id), COMPANY_FIELDS)
    return {
        "rules_in_force": rules_for(db(), partner_id()).for_company(company_id),
        "rule_defaults": asdict(DEFAULT_RULES),
        "override_values": _refused_values(recalled()) or shown,
        "has_override": any(shown.values()),
    }


@bp.post("/")
def save_partner():
    """Save the partner's hold rules and drift policy (blank fields: the defaults)."""
    back = url_for("schedule.show")
    if (refusal := _save(None, PARTNER_FIELDS, back)) is not None:
        return refusal
    flash("Hold rules saved.", "success")
    return redirect(url_for("schedule.show") + "#rules")


@bp.post("/company/<id:company_id>")
def save_company(company_id: int):
    """Save one company's override of the hold thresholds (all blank: the partner's rules)."""
    company = get_company(db(), partner_id(), company_id)  # another partner's: 404
    back = url_for("companies.edit", company_id=company.id)
    if (refusal := _save(company.id, COMPANY_FIELDS, back)) is not None:
        return refusal
    flash(f"Hold rules for {company.name} saved.", "success")
    return redirect(back + "#rules")


@bp.post("/company/<id:company_id>/remove")
def remove_company(company_id: int):
    """Drop a company's override: its items are judged by the partner's rules again."""
    company = get_company(db(), partner_id(), company_id)
    if guard_queries.company_rule(db(), partner_id(), company.id) is not None:
        save_rules(db(), partner_id(), company.id, dict.fromkeys(COMPANY_FIELDS), now=now())
        db().commit()
    flash(f"{company.name} follows the partner's hold rules again.", "success")
    if request.form.get("back") == "company":
        return redirect(url_for("companies.edit", company_id=company.id) + "#rules")
    return redirect(url_for("schedule.show") + "#rules")

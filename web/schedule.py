"""The schedule page: frequency, weekday, time, zone, count basis, next run; the hold rules."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from billing_sync.errors import InvalidInput
from billing_sync.invoice_checklist import checklist_days
from billing_sync.partners import BASES, set_checklist_days, update_partner_settings
from billing_sync.scheduler.due import FREQUENCIES, WEEKDAYS
from billing_sync.scheduler.service import (
    get_schedule,
    last_pushed_period,
    next_runs,
    set_schedule,
)
from billing_sync.validation import whole_number
from web import rules
from web.common import partner, partner_id, recalled, refused
from web.state import db, now, state

bp = Blueprint("schedule", __name__, url_prefix="/schedule")
CHECKLIST_FORM = "checklist"  # marks a refused checklist form
FIELDS = ("frequency", "weekday", "at_time", "timezone", "count_basis", "enabled")


def _stored() -> dict[str, str]:
    schedule, current = get_schedule(db(), partner_id()), partner()
    values = {
        "frequency": "daily",
        "weekday": "0",
        "at_time": "02:00",
        "enabled": "1",
        "timezone": current.timezone,
        "count_basis": current.count_basis,
    }
    if schedule is not None:
        values.update(
            frequency=schedule.frequency,
            weekday=str(schedule.weekday or 0),
            at_time=schedule.at_time,
            enabled="1" if schedule.enabled else "",
        )
    return values


@bp.get("/")
def show():
    """The schedule form with the next run in the partner's zone."""
    back = recalled()
    # The rules and checklist forms' refused values are theirs, not the schedule form's.
    schedule_back = {} if back.get("form") in (rules.FORM, CHECKLIST_FORM) else back
    return render_template(
        "schedule.html",
        values=schedule_back.get("values") or _stored(),
        confirm_zone=schedule_back.get("confirm_zone", False),
        partner=partner(),
        next=next_runs(db(), partner_id()),
        pushed=last_pushed_period(db(), partner_id()),
        month_close_at=state().settings.month_close_at,
        frequencies=FREQUENCIES,
        weekdays=WEEKDAYS,
        bases=BASES,
        **rules.partner_rules_context(back),
        checklist_days=_checklist_shown(back),
    )


def _checklist_shown(back: dict) -> str:
    """The checklist days the form shows: a refused value again, else the one in force."""
    if back.get("form") == CHECKLIST_FORM:
        return back.get("values", {}).get("checklist_days", "")
    return str(checklist_days(partner().checklist_days))


@bp.post("/checklist")
def save_checklist():
    """Store from how many days before month end the invoice checklist shows (0: off)."""
    raw = request.form.get("checklist_days", "").strip()
    try:
        days = set_checklist_days(partner(), raw)
    except InvalidInput as exc:
        db().rollback()
        flash(f"Checklist not saved: {exc}", "error")
        return refused(url_for(".show"), {"checklist_days": raw}, form=CHECKLIST_FORM)
    db().commit()
    flash(
        f"The invoice checklist shows from {days} day(s) before month end."
        if days
        else "The invoice checklist is off.",
        "success",
    )
    return redirect(url_for(".show") + "#checklist")


def _zone_change_refused(values: dict[str, str]) -> str | None:
    """Why a zone change needs a confirmation first, when a month was already pushed."""
    current = partner().timezone
    pushed = last_pushed_period(db(), partner_id())
    if values["timezone"] == current or pushed is None or request.form.get("confirm_zone"):
        return None
    return (
        f"Not saved: the time zone also decides where each billing month ends, and "
        f"{pushed:%Y-%m} was already pushed in {current}. Tick the confirmation to move it to "
        f"{values['timezone']}."
    )


@bp.post("/")
def save():
    """Store the schedule, zone and basis together, or change nothing."""
    values = {name: request.form.get(name, "").strip() for name in FIELDS}
    if (refusal := _zone_change_refused(values)) is not None:
        flash(refusal, "error")
        return refused(url_for(".show"), values, confirm_zone=True)
    try:
        weekday = (
            whole_number(values["weekday"], "weekday", low=0, high=6)
            if values["frequency"] == "weekly"
            else None
        )
        update_partner_settings(
            partner(), timezone=values["timezone"], count_basis=values["count_basis"]
        )
        set_schedule(
            db(),
            partner(),
            values["frequency"],
            weekday=weekday,
            at_time=values["at_time"],
            now=now(),
            month_close_at=state().settings.month_close_at,
            enabled=bool(values["enabled"]),
        )
    except InvalidInput as exc:
        db().rollback()
        flash(f"Not saved: {exc}", "error")
        return refused(url_for(".show"), values)
    db().commit()
    flash("Schedule saved.", "success")
    return redirect(url_for(".show"))

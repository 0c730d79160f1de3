"""The sync schedule page: frequency, weekday, time, zone, count basis; next run in local time."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from billing_sync.errors import InvalidInput
from billing_sync.partners import BASES, update_partner_settings
from billing_sync.scheduler.due import FREQUENCIES, WEEKDAYS
from billing_sync.scheduler.service import get_schedule, next_runs, set_schedule
from billing_sync.validation import whole_number
from web.common import echoed, partner, partner_id
from web.state import db, now, state

bp = Blueprint("schedule", __name__, url_prefix="/schedule")


def _render(values: dict[str, str], status: int = 200):
    return render_template(
        "schedule.html",
        values=values,
        partner=partner(),
        next=next_runs(db(), partner_id()),
        frequencies=FREQUENCIES,
        weekdays=WEEKDAYS,
        bases=BASES,
    ), status


@bp.get("/")
def show():
    """The schedule form with the next run in the partner's zone."""
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
    return _render(values)


@bp.post("/")
def save():
    """Store the schedule, zone and basis together, or change nothing."""
    values = {
        name: request.form.get(name, "").strip()
        for name in ("frequency", "weekday", "at_time", "timezone", "count_basis", "enabled")
    }
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
        flash(str(exc), "error")
        return _render(echoed(values), 422)
    db().commit()
    flash("Schedule saved.", "success")
    return redirect(url_for(".show"))

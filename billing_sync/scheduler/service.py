"""Schedule and alert settings services shared by the CLI and the web pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing_sync.errors import InvalidInput
from billing_sync.models import AdditionLink, AlertSettings, Partner, Schedule
from billing_sync.scheduler import due
from billing_sync.scheduler.alerts import parse_recipients, validate_webhook_url


@dataclass(frozen=True)
class NextRuns:
    """What a partner's schedule will do next, for display (instants are aware UTC)."""

    frequency: str
    weekday: int | None
    at_time: str
    enabled: bool
    timezone: str
    next_run_at: datetime | None
    next_month_close_at: datetime | None
    last_run_at: datetime | None
    last_month_close_period: date | None

    def describe(self) -> str:
        """One line such as "daily at 02:30 America/New_York; next run 2026-03-09 02:30 EDT"."""
        zone = due.ZoneInfo(self.timezone)
        when = (
            "off"
            if not self.enabled
            else (
                f"{self.frequency} at {self.at_time}"
                if self.frequency == "daily"
                else f"weekly on {due.WEEKDAYS[self.weekday or 0]} at {self.at_time}"
            )
        )
        parts = [f"regular runs: {when} ({self.timezone})"]
        for label, instant in (
            ("next run", self.next_run_at),
            ("next month close", self.next_month_close_at),
        ):
            if instant is not None:
                parts.append(f"{label} {instant.astimezone(zone):%Y-%m-%d %H:%M %Z}")
        return "; ".join(parts)


def get_schedule(session: Session, partner_id: int) -> Schedule | None:
    """The partner's schedule row, if any."""
    return session.scalar(select(Schedule).where(Schedule.partner_id == partner_id))


def _validated(frequency: str, weekday: int | str | None, at_time: str) -> tuple[int | None, time]:
    if frequency not in due.FREQUENCIES:
        raise InvalidInput(f"frequency must be one of {', '.join(due.FREQUENCIES)}")
    try:
        at = due.parse_at(at_time)
        if isinstance(weekday, str):
            weekday = due.parse_weekday(weekday)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    if frequency == "weekly" and weekday not in range(7):
        raise InvalidInput("a weekly schedule needs a weekday (mon..sun)")
    if frequency == "daily" and weekday is not None:
        raise InvalidInput("a daily schedule takes no weekday")
    return weekday, at


def set_schedule(
    session: Session,
    partner: Partner,
    frequency: str,
    *,
    weekday: int | str | None,
    at_time: str,
    now: datetime,
    month_close_at: str = "00:15",
    enabled: bool = True,
) -> Schedule:
    """Validate and store the schedule; persist the next run and next month-close instants."""
    weekday, at = _validated(frequency, weekday, at_time)
    schedule = get_schedule(session, partner.id)
    if schedule is None:
        schedule = Schedule(partner_id=partner.id, next_credentials_check_at=now)
        session.add(schedule)
    schedule.frequency, schedule.weekday, schedule.at_time = frequency, weekday, f"{at:%H:%M}"
    schedule.enabled = enabled
    schedule.updated_at = now
    refresh_schedule(schedule, partner, now=now, month_close_at=month_close_at)
    session.flush()
    return schedule


def refresh_schedule(
    schedule: Schedule, partner: Partner, *, now: datetime, month_close_at: str = "00:15"
) -> None:
    """Recompute the persisted next instants (after a schedule or time zone change)."""
    tz = partner.timezone
    schedule.next_run_at = (
        due.next_run_after(
            now,
            frequency=schedule.frequency,
            at=due.parse_at(schedule.at_time),
            tz=tz,
            weekday=schedule.weekday,
        )
        if schedule.enabled
        else None
    )
    schedule.next_month_close_at = due.next_month_close_after(
        now, at=due.parse_at(month_close_at), tz=tz
    )


def next_runs(session: Session, partner_id: int) -> NextRuns | None:
    """The partner's schedule and its next instants, or None when it has none."""
    row = session.execute(
        select(Schedule, Partner.timezone)
        .join(Partner, Partner.id == Schedule.partner_id)
        .where(Schedule.partner_id == partner_id)
    ).first()
    if row is None:
        return None
    schedule, tz = row
    return NextRuns(
        frequency=schedule.frequency,
        weekday=schedule.weekday,
        at_time=schedule.at_time,
        enabled=schedule.enabled,
        timezone=tz,
        next_run_at=schedule.next_run_at,
        next_month_close_at=schedule.next_month_close_at,
        last_run_at=schedule.last_run_at,
        last_month_close_period=schedule.last_month_close_period,
    )


def last_pushed_period(session: Session, partner_id: int) -> date | None:
    """The newest month-end period pushed to ConnectWise for the partner, if any.

    Its zone decided where that month ended: moving the zone now moves the boundaries of the
    months still to push, and an older month is never pushed again.
    """
    return session.scalar(
        select(func.max(AdditionLink.period)).where(AdditionLink.partner_id == partner_id)
    )


def get_alerts(session: Session, partner_id: int) -> AlertSettings | None:
    """The partner's alert settings, if any."""
    return session.scalar(select(AlertSettings).where(AlertSettings.partner_id == partner_id))


def set_alerts(
    session: Session,
    partner: Partner,
    email_to: str | None,
    webhook_url: str | None,
    *,
    now: datetime,
    allow_private_hosts: bool = False,
) -> AlertSettings:
    """Validate and store where alerts go; an empty value switches that channel off."""
    recipients = parse_recipients(email_to or "")
    url = (webhook_url or "").strip()
    try:
        url = validate_webhook_url(url, allow_private_hosts) if url else ""
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    alerts = get_alerts(session, partner.id)
    if alerts is None:
        alerts = AlertSettings(partner_id=partner.id)
        session.add(alerts)
    alerts.email_to = ", ".join(recipients) or None
    alerts.webhook_url = url or None
    alerts.updated_at = now
    session.flush()
    return alerts

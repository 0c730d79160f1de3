"""Persisted scheduler state: which partners are due, and atomic claims of each due slot.

A claim is a conditional UPDATE that moves a slot forward only if it still holds the value we read;
exactly one process sees rowcount 1, so several schedulers on one database run each slot once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from billing_sync.lease import database_now
from billing_sync.models import Connection, Partner, Run, RunItem, Schedule
from billing_sync.periods import latest_closed_period
from billing_sync.scheduler import due

CREDENTIALS_CHECK_EVERY = timedelta(days=1)


@dataclass(frozen=True)
class DueSchedule:
    """A schedule row with at least one due slot, as read at the start of a tick."""

    schedule_id: int
    partner_id: int
    partner: str
    timezone: str
    integration_enabled: bool
    frequency: str
    weekday: int | None
    at_time: str
    next_run_at: datetime | None
    next_month_close_at: datetime | None
    next_credentials_check_at: datetime | None


def due_schedules(session: Session, now: datetime) -> list[DueSchedule]:
    """Schedules with a regular run, month close or credentials check due at `now`."""
    rows = session.execute(
        select(Schedule, Partner)
        .join(Partner, Partner.id == Schedule.partner_id)
        .where(
            or_(
                Schedule.next_run_at <= now,
                Schedule.next_month_close_at <= now,
                Schedule.next_credentials_check_at <= now,
            )
        )
        .order_by(Schedule.partner_id)
    ).all()
    return [_due(s, p) for s, p in rows]


def _due(s: Schedule, p: Partner) -> DueSchedule:
    return DueSchedule(
        schedule_id=s.id,
        partner_id=p.id,
        partner=p.name,
        timezone=p.timezone,
        integration_enabled=p.integration_enabled,
        frequency=s.frequency,
        weekday=s.weekday,
        at_time=s.at_time,
        next_run_at=s.next_run_at,
        next_month_close_at=s.next_month_close_at,
        next_credentials_check_at=s.next_credentials_check_at,
    )


def schedule_for(session: Session, partner_id: int) -> DueSchedule | None:
    """The partner's schedule as the loop reads it, due or not (for work finished elsewhere)."""
    row = session.execute(
        select(Schedule, Partner)
        .join(Partner, Partner.id == Schedule.partner_id)
        .where(Schedule.partner_id == partner_id)
    ).first()
    return None if row is None else _due(*row)


def _move(session: Session, slot: DueSchedule, column, old: datetime, **values) -> bool:
    result = session.execute(
        update(Schedule).where(Schedule.id == slot.schedule_id, column == old).values(**values)
    )
    return result.rowcount == 1


def claim_run(session: Session, slot: DueSchedule, now: datetime) -> bool:
    """Take the due regular run; the next slot is the first after `now` (catch-up runs once)."""
    if slot.next_run_at is None or slot.next_run_at > now:
        return False
    following = due.next_run_after(
        now,
        frequency=slot.frequency,
        at=due.parse_at(slot.at_time),
        tz=slot.timezone,
        weekday=slot.weekday,
    )
    return _move(
        session,
        slot,
        Schedule.next_run_at,
        slot.next_run_at,
        next_run_at=following,
        last_run_at=now,
    )


def claim_month_close(session: Session, slot: DueSchedule, now: datetime, close_at: str) -> bool:
    """Take the due month-close run and record the period it closes."""
    if slot.next_month_close_at is None or slot.next_month_close_at > now:
        return False
    following = due.next_month_close_after(now, at=due.parse_at(close_at), tz=slot.timezone)
    closed = latest_closed_period(now, slot.timezone)  # after downtime, older months are past
    return _move(
        session,
        slot,
        Schedule.next_month_close_at,
        slot.next_month_close_at,
        next_month_close_at=following,
        last_month_close_period=closed.first_day,
    )


def reopen_month_close(
    session: Session,
    slot: DueSchedule,
    now: datetime,
    close_at: str,
    *,
    retry_at: datetime | None = None,
) -> None:
    """Put a claimed month close back, due again at `retry_at` (default: the next tick)."""
    following = due.next_month_close_after(now, at=due.parse_at(close_at), tz=slot.timezone)
    _move(
        session,
        slot,
        Schedule.next_month_close_at,
        following,
        next_month_close_at=retry_at or slot.next_month_close_at,
    )


def claim_credentials_check(session: Session, slot: DueSchedule, now: datetime) -> bool:
    """Take the due daily credentials check."""
    if slot.next_credentials_check_at is None or slot.next_credentials_check_at > now:
        return False
    return _move(
        session,
        slot,
        Schedule.next_credentials_check_at,
        slot.next_credentials_check_at,
        next_credentials_check_at=(now + CREDENTIALS_CHECK_EVERY).replace(microsecond=0),
    )


def unscheduled_partners(session: Session) -> list[Partner]:
    """Partners with a connection and integration enabled but no schedule row yet."""
    return list(
        session.scalars(
            select(Partner)
            .join(Connection, Connection.partner_id == Partner.id)
            .where(
                Partner.integration_enabled.is_(True),
                ~select(Schedule.id).where(Schedule.partner_id == Partner.id).exists(),
            )
        )
    )


def adopt(session: Session, partner: Partner, *, now: datetime, close_at: str) -> Schedule:
    """Give a schedule-less partner month-close runs and credentials checks, no regular runs."""
    schedule = Schedule(
        partner_id=partner.id,
        frequency="daily",
        weekday=None,
        at_time=close_at,
        enabled=False,
        next_run_at=None,
        updated_at=now,
        next_credentials_check_at=now.replace(microsecond=0),
        next_month_close_at=due.next_month_close_after(
            now, at=due.parse_at(close_at), tz=partner.timezone
        ),
    )
    session.add(schedule)
    return schedule


def latest_run_id(session: Session, partner_id: int, since: datetime) -> int | None:
    """The newest run of the partner started at or after `since` (to name it in a log line)."""
    return session.scalar(
        select(func.max(Run.id)).where(Run.partner_id == partner_id, Run.started_at >= since)
    )


def in_flight_for(session: Session, partner_id: int) -> timedelta | None:
    """How long until the partner's last write still in flight may be settled; None if none.

    A duration, not an instant: settle times are database time, the scheduler's clock may differ.
    """
    latest = session.scalar(
        select(func.max(RunItem.settle_after)).where(
            RunItem.partner_id == partner_id, RunItem.state == "intent"
        )
    )
    if latest is None:
        return None
    latest = latest if latest.tzinfo else latest.replace(tzinfo=UTC)
    left = latest - database_now(session)
    return left if left > timedelta(0) else None

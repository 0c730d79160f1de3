"""Pure due-time math: daily/weekly slots, DST days, month close, leap years."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from billing_sync.periods import Period
from billing_sync.scheduler.due import (
    month_close_instant,
    next_month_close_after,
    next_run_after,
    parse_at,
    parse_weekday,
    wall_clock_instant,
)

NY, AMS = "America/New_York", "Europe/Amsterdam"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def slots(start: datetime, end: datetime, **schedule) -> list[datetime]:
    """Every slot a scheduler would fire between start and end."""
    found, cursor = [], start
    while (cursor := next_run_after(cursor, **schedule)) < end:
        found.append(cursor)
    return found


@pytest.mark.parametrize(
    ("after", "at", "tz", "expected"),
    [
        (utc(2026, 1, 10, 12), "02:30", "UTC", utc(2026, 1, 11, 2, 30)),
        (utc(2026, 1, 11, 2, 29), "02:30", "UTC", utc(2026, 1, 11, 2, 30)),
        (utc(2026, 1, 11, 2, 30), "02:30", "UTC", utc(2026, 1, 12, 2, 30)),  # strictly after
        (utc(2026, 1, 10, 12), "02:30", NY, utc(2026, 1, 11, 7, 30)),  # EST = UTC-5
        (utc(2026, 7, 10, 12), "02:30", NY, utc(2026, 7, 11, 6, 30)),  # EDT = UTC-4
        (utc(2026, 7, 10, 12), "23:45", AMS, utc(2026, 7, 10, 21, 45)),  # CEST = UTC+2
        (utc(2028, 2, 28, 23), "01:00", "UTC", utc(2028, 2, 29, 1)),  # leap day exists in 2028
        (utc(2028, 2, 29, 2), "01:00", "UTC", utc(2028, 3, 1, 1)),
        (utc(2026, 12, 31, 22), "00:15", AMS, utc(2026, 12, 31, 23, 15)),  # into the new year
    ],
)
def test_daily_next_run(after, at, tz, expected):
    assert next_run_after(after, frequency="daily", at=parse_at(at), tz=tz) == expected


@pytest.mark.parametrize(
    ("weekday", "expected_day"),
    [
        # 2026-03-04 is a Wednesday.
        (0, 9),
        (1, 10),
        (2, 4),
        (3, 5),
        (4, 6),
        (5, 7),
        (6, 8),
    ],
)
def test_weekly_runs_on_its_weekday(weekday, expected_day):
    after = utc(2026, 3, 4, 6)  # 07:00 Amsterdam, before the 09:00 slot
    slot = next_run_after(after, frequency="weekly", weekday=weekday, at=time(9), tz=AMS)
    assert slot.astimezone(ZoneInfo(AMS)) == datetime(
        2026, 3, expected_day, 9, tzinfo=ZoneInfo(AMS)
    )
    assert slot.astimezone(ZoneInfo(AMS)).weekday() == weekday


def test_weekly_slots_are_a_week_apart_on_the_same_weekday():
    found = slots(
        utc(2026, 1, 1), utc(2026, 4, 1), frequency="weekly", weekday=0, at=time(6), tz=NY
    )
    assert len(found) == 13
    assert all(s.astimezone(ZoneInfo(NY)).weekday() == 0 for s in found)
    assert all(s.astimezone(ZoneInfo(NY)).time() == time(6) for s in found)


@pytest.mark.parametrize(
    ("tz", "day", "at", "expected_utc", "local"),
    [
        # Spring forward: 02:30 does not exist; it runs shifted by the gap, at 03:30 local.
        (NY, date(2026, 3, 8), "02:30", utc(2026, 3, 8, 7, 30), "03:30"),
        (AMS, date(2026, 3, 29), "02:30", utc(2026, 3, 29, 1, 30), "03:30"),
        # Fall back: the repeated time runs at its first occurrence (still summer time).
        (NY, date(2026, 11, 1), "01:30", utc(2026, 11, 1, 5, 30), "01:30"),
        (AMS, date(2026, 10, 25), "02:30", utc(2026, 10, 25, 0, 30), "02:30"),
        # On those days, times outside the transition are untouched.
        (NY, date(2026, 11, 1), "02:30", utc(2026, 11, 1, 7, 30), "02:30"),
        (AMS, date(2026, 3, 29), "01:30", utc(2026, 3, 29, 0, 30), "01:30"),
    ],
)
def test_dst_day_slot(tz, day, at, expected_utc, local):
    assert wall_clock_instant(day, parse_at(at), tz) == expected_utc
    assert f"{expected_utc.astimezone(ZoneInfo(tz)):%H:%M}" == local


@pytest.mark.parametrize(
    ("tz", "day", "at"),
    [
        (NY, date(2026, 3, 8), "02:30"),
        (NY, date(2026, 11, 1), "01:30"),
        (NY, date(2026, 11, 1), "02:30"),
        (AMS, date(2026, 3, 29), "02:30"),
        (AMS, date(2026, 10, 25), "02:30"),
    ],
)
def test_dst_day_runs_exactly_once(tz, day, at):
    zone = ZoneInfo(tz)
    start = datetime.combine(day - timedelta(days=2), time(12), tzinfo=zone).astimezone(UTC)
    found = slots(start, start + timedelta(days=5), frequency="daily", at=parse_at(at), tz=tz)
    local_days = [s.astimezone(zone).date() for s in found]
    assert local_days == [day + timedelta(days=n) for n in range(-1, 4)]
    assert local_days.count(day) == 1


def test_catch_up_after_downtime_is_one_slot_after_now():
    # Down for ten days: the next slot is tomorrow's, not the first missed one.
    now = utc(2026, 5, 20, 12)
    assert next_run_after(now, frequency="daily", at=time(2), tz="UTC") == utc(2026, 5, 21, 2)


@pytest.mark.parametrize(
    ("period", "tz", "expected"),
    [
        (Period(2026, 1), "UTC", utc(2026, 2, 1, 0, 15)),
        (Period(2026, 2), NY, utc(2026, 3, 1, 5, 15)),
        (Period(2028, 2), NY, utc(2028, 3, 1, 5, 15)),  # leap February closes after the 29th
        (Period(2026, 3), AMS, utc(2026, 3, 31, 22, 15)),  # boundary after spring forward: UTC+2
        (Period(2026, 10), NY, utc(2026, 11, 1, 4, 15)),  # fall-back day, still EDT at 00:15
        (Period(2026, 12), AMS, utc(2026, 12, 31, 23, 15)),
    ],
)
def test_month_close_is_the_boundary_plus_offset(period, tz, expected):
    instant = month_close_instant(period, time(0, 15), tz)
    assert instant == expected
    assert instant - period.end(tz) == timedelta(minutes=15)


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (utc(2028, 2, 15), utc(2028, 3, 1, 5, 15)),
        (utc(2028, 2, 29, 23), utc(2028, 3, 1, 5, 15)),
        (utc(2028, 3, 1, 5, 10), utc(2028, 3, 1, 5, 15)),  # past the boundary, before the close
        (utc(2028, 3, 1, 5, 15), utc(2028, 4, 1, 4, 15)),  # strictly after
    ],
)
def test_next_month_close_after(after, expected):
    assert next_month_close_after(after, at=time(0, 15), tz=NY) == expected


@pytest.mark.parametrize("text", ["2:30", "24:00", "12:60", "noon", "", "02:30:00"])
def test_bad_times_are_refused(text):
    with pytest.raises(ValueError, match="HH:MM"):
        parse_at(text)


@pytest.mark.parametrize(("text", "expected"), [("mon", 0), ("SUN", 6), ("Wednesday", 2)])
def test_weekday_names(text, expected):
    assert parse_weekday(text) == expected


def test_bad_weekday_and_schedule_are_refused():
    with pytest.raises(ValueError, match="weekday"):
        parse_weekday("someday")
    with pytest.raises(ValueError, match="weekday"):
        next_run_after(utc(2026, 1, 1), frequency="weekly", at=time(1), tz="UTC")
    with pytest.raises(ValueError, match="frequency"):
        next_run_after(utc(2026, 1, 1), frequency="hourly", at=time(1), tz="UTC")
    with pytest.raises(ValueError, match="naive"):
        next_run_after(datetime(2026, 1, 1), frequency="daily", at=time(1), tz="UTC")

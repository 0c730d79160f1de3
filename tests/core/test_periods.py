"""Period math on plain values: boundaries in UTC, DST months, leap years, zones east of UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from billing_sync.periods import (
    Period,
    addition_effective_date,
    latest_closed_period,
    period_containing,
    validate_timezone,
)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# Expected values worked out by hand from the 2026 rules: New York EDT 8 Mar - 1 Nov (UTC-4, else
# -5); Amsterdam CEST 29 Mar - 25 Oct (UTC+2, else +1); Auckland NZST 5 Apr - 27 Sep (UTC+12,
# else NZDT +13); Tokyo always +9.
BOUNDARIES = [
    # period, zone, start (UTC), end B (UTC)
    ("2026-10", "UTC", "2026-10-01T00:00", "2026-11-01T00:00"),
    ("2026-12", "UTC", "2026-12-01T00:00", "2027-01-01T00:00"),
    ("2026-03", "America/New_York", "2026-03-01T05:00", "2026-04-01T04:00"),
    ("2026-10", "America/New_York", "2026-10-01T04:00", "2026-11-01T04:00"),
    ("2026-11", "America/New_York", "2026-11-01T04:00", "2026-12-01T05:00"),
    ("2026-03", "Europe/Amsterdam", "2026-02-28T23:00", "2026-03-31T22:00"),
    ("2026-10", "Europe/Amsterdam", "2026-09-30T22:00", "2026-10-31T23:00"),
    ("2026-04", "Pacific/Auckland", "2026-03-31T11:00", "2026-04-30T12:00"),
    ("2026-09", "Pacific/Auckland", "2026-08-31T12:00", "2026-09-30T11:00"),
    ("2026-10", "Pacific/Auckland", "2026-09-30T11:00", "2026-10-31T11:00"),
    ("2026-01", "Asia/Tokyo", "2025-12-31T15:00", "2026-01-31T15:00"),
    ("2028-02", "UTC", "2028-02-01T00:00", "2028-03-01T00:00"),
    ("2027-02", "UTC", "2027-02-01T00:00", "2027-03-01T00:00"),
]


@pytest.mark.parametrize(("period", "tz", "start", "end"), BOUNDARIES)
def test_period_start_and_end_are_local_midnights_in_utc(period, tz, start, end):
    parsed = Period.parse(period)
    assert parsed.start(tz) == utc(start)
    assert parsed.end(tz) == utc(end)
    assert parsed.end(tz).tzinfo == UTC


@pytest.mark.parametrize(
    ("period", "days"),
    [("2028-02", 29), ("2027-02", 28), ("2026-02", 28), ("2000-02", 29), ("2100-02", 28)],
)
def test_february_length_follows_leap_years(period, days):
    parsed = Period.parse(period)
    assert (parsed.end("UTC") - parsed.start("UTC")).days == days


CONTAINING = [
    # instant (UTC), zone, period read on that zone's wall clock
    ("2026-10-31T12:00", "Pacific/Auckland", "2026-11"),  # already 1 Nov 01:00 locally
    ("2026-10-31T11:00", "Pacific/Auckland", "2026-11"),  # exactly B of October
    ("2026-10-31T10:59:59", "Pacific/Auckland", "2026-10"),
    ("2026-10-31T12:00", "UTC", "2026-10"),
    ("2025-12-31T15:00", "Asia/Tokyo", "2026-01"),
    ("2025-12-31T14:59:59", "Asia/Tokyo", "2025-12"),
    ("2026-11-01T03:59:59", "America/New_York", "2026-10"),  # 23:59:59 EDT, 31 Oct
    ("2026-11-01T04:00", "America/New_York", "2026-11"),
    ("2026-10-31T23:00", "Europe/Amsterdam", "2026-11"),
    ("2026-10-31T22:59:59", "Europe/Amsterdam", "2026-10"),
    ("2028-02-29T23:59:59", "UTC", "2028-02"),
    ("2027-02-28T23:59:59", "UTC", "2027-02"),
]


@pytest.mark.parametrize(("instant", "tz", "period"), CONTAINING)
def test_period_containing_reads_the_local_wall_clock(instant, tz, period):
    assert period_containing(utc(instant), tz) == Period.parse(period)


LATEST_CLOSED = [
    # now (UTC), zone, latest period with B <= now
    ("2026-04-01T04:00", "America/New_York", "2026-03"),  # exactly at B of March
    ("2026-04-01T03:59:59", "America/New_York", "2026-02"),
    ("2026-10-31T23:00", "Europe/Amsterdam", "2026-10"),
    ("2026-10-31T22:59", "Europe/Amsterdam", "2026-09"),
    ("2026-10-31T12:00", "Pacific/Auckland", "2026-10"),  # UTC still thinks it is October
    ("2026-10-31T12:00", "UTC", "2026-09"),
    ("2025-12-31T16:00", "Asia/Tokyo", "2025-12"),
    ("2026-01-01T00:00", "UTC", "2025-12"),
]


@pytest.mark.parametrize(("now", "tz", "period"), LATEST_CLOSED)
def test_latest_closed_period_is_the_last_whose_boundary_has_passed(now, tz, period):
    closed = latest_closed_period(utc(now), tz)
    assert closed == Period.parse(period)
    assert closed.end(tz) <= utc(now) < closed.next().end(tz)


EFFECTIVE_DATES = [
    ("2026-10-31T12:00", "Pacific/Auckland", "2026-11-01T00:00"),
    ("2026-10-31T12:00", "UTC", "2026-10-01T00:00"),
    ("2026-11-01T03:00", "America/New_York", "2026-10-01T00:00"),  # 23:00 EDT on 31 Oct
    ("2026-03-31T22:30", "Europe/Amsterdam", "2026-04-01T00:00"),
    ("2028-02-29T12:00", "UTC", "2028-02-01T00:00"),
]


@pytest.mark.parametrize(("now", "tz", "effective"), EFFECTIVE_DATES)
def test_addition_effective_date_is_utc_midnight_of_the_local_first_day(now, tz, effective):
    assert addition_effective_date(utc(now), tz) == utc(effective)


@pytest.mark.parametrize(
    ("period", "following", "preceding"),
    [
        ("2026-12", "2027-01", "2026-11"),
        ("2026-01", "2026-02", "2025-12"),
        ("2028-02", "2028-03", "2028-01"),
    ],
)
def test_next_and_previous_cross_year_ends(period, following, preceding):
    assert Period.parse(period).next() == Period.parse(following)
    assert Period.parse(period).previous() == Period.parse(preceding)


def test_period_text_round_trips_and_orders_chronologically():
    assert str(Period.parse("2026-03")) == "2026-03"
    assert Period.parse("2026-03").first_day == date(2026, 3, 1)
    assert Period.of(date(2026, 3, 17)) == Period(2026, 3)
    assert sorted([Period(2027, 1), Period(2026, 12), Period(2026, 2)]) == [
        Period(2026, 2),
        Period(2026, 12),
        Period(2027, 1),
    ]


@pytest.mark.parametrize(
    "text", ["2026-13", "2026-00", "2026-1", "26-10", "2026/10", "", "October"]
)
def test_malformed_periods_are_refused(text):
    with pytest.raises(ValueError):
        Period.parse(text)


@pytest.mark.parametrize(
    "name", ["UTC", "America/New_York", "Europe/Amsterdam", "Pacific/Auckland"]
)
def test_known_time_zones_validate(name):
    assert validate_timezone(name) == name


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "", "  ", "../../etc/passwd", "Europe/"])
def test_unknown_time_zones_are_refused_with_a_clear_message(name):
    with pytest.raises(ValueError, match="time zone"):
        validate_timezone(name)


def test_unknown_zone_is_refused_by_period_math_too():
    with pytest.raises(ValueError, match="unknown time zone 'Nowhere/Land'"):
        Period(2026, 10).end("Nowhere/Land")


@pytest.mark.parametrize(
    "call",
    [
        lambda naive: period_containing(naive, "UTC"),
        lambda naive: latest_closed_period(naive, "UTC"),
        lambda naive: addition_effective_date(naive, "UTC"),
    ],
)
def test_naive_datetimes_are_refused(call):
    with pytest.raises(ValueError, match="naive"):
        call(datetime(2026, 10, 31, 12, 0))

"""Pure due-time math: the next daily, weekly and month-close instants in an IANA zone.

Wall-clock rules on DST days (one run per local day, always):
- a time that does not exist (spring-forward gap) runs shifted forward by the gap, at the instant a
  clock that had not jumped would read it: 02:30 on a 02:00->03:00 gap day runs at 03:30 local;
- a time that happens twice (fall-back) runs at its first occurrence (fold=0).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from billing_sync.periods import Period, period_containing, require_aware, validate_timezone
from billing_sync.validation import shown

FREQUENCIES = ("daily", "weekly")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_HHMM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")


def parse_at(text: str) -> time:
    """Parse a 24-hour "HH:MM" wall-clock time, e.g. "02:30"."""
    match = _HHMM.fullmatch(text.strip()) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"time {shown(str(text))} is not of the form HH:MM (24-hour), e.g. 02:30")
    return time(int(match.group(1)), int(match.group(2)))


def parse_weekday(text: str) -> int:
    """Parse "mon".."sun" or a full English day name (any case) into 0 = Monday .. 6 = Sunday."""
    key = text.strip().lower() if isinstance(text, str) else ""
    for index, name in enumerate(_DAY_NAMES):
        if key in (name, name[:3]):
            return index
    raise ValueError(f"weekday {shown(str(text))} must be one of {', '.join(WEEKDAYS)}")


def wall_clock_instant(day: date, at: time, tz: str) -> datetime:
    """The instant (aware UTC) the wall clock in `tz` reads `at` on `day` (DST rules above)."""
    # fold=0 is exactly the rule: first occurrence when repeated, pre-transition offset in a gap.
    local = datetime.combine(day, at.replace(fold=0), tzinfo=ZoneInfo(validate_timezone(tz)))
    return local.astimezone(UTC)


def next_run_after(
    after: datetime, *, frequency: str, at: time, tz: str, weekday: int | None = None
) -> datetime:
    """The first scheduled instant strictly after `after` (so missed slots collapse into one)."""
    if frequency not in FREQUENCIES:
        raise ValueError(f"frequency must be one of {', '.join(FREQUENCIES)}")
    if frequency == "weekly" and weekday not in range(7):
        raise ValueError("a weekly schedule needs a weekday (0 = Monday .. 6 = Sunday)")
    local_day = require_aware(after).astimezone(ZoneInfo(tz)).date()
    # Start a day early: a slot shifted across midnight by a gap may belong to the previous date.
    for offset in range(-1, 9):
        day = local_day + timedelta(days=offset)
        if frequency == "weekly" and day.weekday() != weekday:
            continue
        slot = wall_clock_instant(day, at, tz)
        if slot > after:
            return slot
    raise AssertionError("unreachable: every week has a slot")


def month_close_instant(period: Period, at: time, tz: str) -> datetime:
    """When the month-close run of `period` is due: `at` local on the 1st of the next month."""
    return wall_clock_instant(period.next().first_day, at, tz)


def next_month_close_after(after: datetime, *, at: time, tz: str) -> datetime:
    """The first month-close instant strictly after `after`."""
    current = period_containing(after, tz)
    closing_previous = month_close_instant(current.previous(), at, tz)
    if closing_previous > after:
        return closing_previous  # `after` lies between the boundary and the close time
    return month_close_instant(current, at, tz)

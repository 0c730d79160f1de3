"""Billing periods: calendar months in a partner's IANA time zone, as pure, DST-correct math."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_PERIOD_RE = re.compile(r"^(\d{4})-(\d{2})$")


def validate_timezone(name: str) -> str:
    """Return `name` if it is a known IANA time zone, else raise ValueError saying so."""
    _zone(name)
    return name


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    if not isinstance(name, str) or not name.strip():
        raise ValueError("time zone is empty; use an IANA name such as Europe/Amsterdam")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: a name too long
        shown = name if len(name) <= 64 else name[:64] + "…"
        raise ValueError(
            f"unknown time zone {shown!r}; use an IANA name such as Europe/Amsterdam or UTC"
        ) from exc


def require_aware(value: datetime, what: str = "instant") -> datetime:
    """Return `value` unchanged, or raise ValueError when it carries no time zone."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} {value.isoformat()} is naive; give an aware datetime (UTC)")
    return value


@dataclass(frozen=True, order=True)
class Period:
    """A calendar month; its boundaries depend on the zone it is billed in."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12 or not 1 <= self.year <= 9998:
            raise ValueError(f"not a calendar month: {self.year}-{self.month}")

    @classmethod
    def parse(cls, text: str) -> Period:
        """Parse "YYYY-MM", e.g. "2026-10"."""
        match = _PERIOD_RE.match(text.strip())
        if not match:
            raise ValueError(f"period {text!r} is not of the form YYYY-MM, e.g. 2026-10")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def of(cls, day: date) -> Period:
        """The period a calendar date falls in (e.g. a stored `PeriodClose.period`)."""
        return cls(day.year, day.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first_day(self) -> date:
        """The first calendar day of the month."""
        return date(self.year, self.month, 1)

    def start(self, tz: str) -> datetime:
        """The first instant of the month in `tz`, as an aware UTC datetime."""
        # fold=0 maps a midnight that falls in a DST gap to the transition instant itself,
        # which is exactly the first instant of that local day.
        local = datetime(self.year, self.month, 1, tzinfo=_zone(tz))
        return local.astimezone(UTC)

    def end(self, tz: str) -> datetime:
        """Boundary B: the first instant of the next month in `tz`, as an aware UTC datetime."""
        return self.next().start(tz)

    def next(self) -> Period:
        """The following month."""
        return Period(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Period:
        """The preceding month."""
        return Period(self.year - (self.month == 1), (self.month - 2) % 12 + 1)


def period_containing(instant: datetime, tz: str) -> Period:
    """The period that `instant` falls in, read on the wall clock of `tz`."""
    local = require_aware(instant).astimezone(_zone(tz))
    return Period(local.year, local.month)


def latest_closed_period(now: datetime, tz: str) -> Period:
    """The latest period whose end boundary is at or before `now`."""
    # The current period's start is the previous period's end, and start <= now by definition.
    return period_containing(now, tz).previous()


def addition_effective_date(now: datetime, tz: str) -> datetime:
    """The first day of the current month in `tz`, as UTC midnight of that date."""
    current = period_containing(now, tz)
    return datetime(current.year, current.month, 1, tzinfo=UTC)

"""Input rules shared by the pages, the CLI and the usage CSV: one place says what fits.

Every value from outside passes one of these before it reaches the database or a message:
ids are ASCII digits in the range of an INTEGER column, text fits its column and holds no control
character (PostgreSQL refuses NUL; a terminal obeys ESC), time zones and timestamps are ones the
period math can use. A refusal raises InvalidInput with a message fit to show as is.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from billing_sync.errors import InvalidInput
from billing_sync.periods import validate_timezone

MAX_ID = 2**31 - 1  # ids live in INTEGER columns (int4 on PostgreSQL)
MAX_PAGE = 100_000
SHOWN_CHARACTERS = 40  # the most of a refused value a message repeats
EARLIEST_YEAR, LATEST_YEAR = 1900, 9998  # Period math needs the month after the latest

# str.isdigit() says yes to "²" and "١٢"; only ASCII digits are numbers here.
_DIGITS = re.compile(r"[0-9]{1,12}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# What a terminal must not be handed raw: C0 and C1 controls, DEL, and bidirectional overrides.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def shown(value: str, limit: int = SHOWN_CHARACTERS) -> str:
    """`value` quoted for a message: control characters escaped, cut to `limit` characters."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


def clipped(value: str, limit: int = SHOWN_CHARACTERS) -> str:
    """`value` unquoted for a message: control characters escaped, cut to `limit` characters."""
    return printable(value[:limit]) + ("…" if len(value) > limit else "")


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """`text` with every control character written as an escape such as \\x1b (for terminals)."""

    def escape(match: re.Match[str]) -> str:
        char = match.group()
        if keep_newlines and char == "\n":
            return char
        return char.encode("unicode_escape").decode("ascii")

    return _UNPRINTABLE.sub(escape, text)


def has_control(value: str) -> bool:
    """True when `value` holds a C0/C1 control character or DEL."""
    return _CONTROL.search(value) is not None


def text(value: str | None, what: str, max_length: int, *, required: bool = True) -> str:
    """`value` stripped; refused when empty (if required), too long, or holding a control."""
    value = (value or "").strip()
    if required and not value:
        raise InvalidInput(f"{what} is empty")
    if len(value) > max_length:
        raise InvalidInput(f"{what} is longer than {max_length} characters")
    if has_control(value):
        raise InvalidInput(f"{what} contains a control character")
    return value


def whole_number(raw: str | int | None, what: str, *, low: int = 1, high: int = MAX_ID) -> int:
    """An integer from low to high, given as ASCII digits (or an int, from click or code)."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    else:
        digits = (raw or "").strip() if isinstance(raw, str) else ""
        value = int(digits) if _DIGITS.fullmatch(digits) else low - 1
    if not low <= value <= high:
        raise InvalidInput(f"{what} must be a whole number from {low} to {high}")
    return value


def record_id(raw: str | int | None, what: str) -> int:
    """A database or ConnectWise id: 1 to 2**31 - 1."""
    return whole_number(raw, what)


def page(raw: str | None) -> int:
    """A listing's page number: 1 when absent."""
    if raw is None or not raw.strip():
        return 1
    return whole_number(raw, "page", high=MAX_PAGE)


def email(value: str | None) -> str:
    """An e-mail address, lower-cased, that fits the users table."""
    address = text(value, "e-mail address", 255).lower()
    if not EMAIL.match(address):
        raise InvalidInput(f"{shown(address)} is not an e-mail address")
    return address


def timezone(value: str | None) -> str:
    """An IANA time zone name, e.g. Europe/Amsterdam."""
    name = text(value, "time zone", 64)
    try:
        return validate_timezone(name)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc


def timestamp(raw: str, what: str) -> datetime:
    """An ISO 8601 timestamp with an offset (or Z), as aware UTC in the years periods can use."""
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"{what} {shown(raw)} is not an ISO 8601 timestamp") from None
    if value.tzinfo is None:
        raise InvalidInput(f"{what} {shown(raw)} has no UTC offset; add Z or e.g. +02:00")
    try:
        value = value.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 pushed out of range by its offset
        value = None
    if value is None or not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise InvalidInput(
            f"{what} {shown(raw)} is outside the years {EARLIEST_YEAR} to {LATEST_YEAR}"
        )
    return value

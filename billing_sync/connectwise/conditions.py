"""Build ConnectWise `conditions` query strings; every value goes through `format_value`."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime

ConditionValue = str | int | float | bool | datetime | None


def quote(text: str) -> str:
    """Quote a string value: backslash before `"` and `\\`, wrapped in double quotes."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def format_datetime(moment: datetime) -> str:
    """`2026-01-01T00:00:00Z`: ConnectWise's UTC date-time form (naive datetimes are refused)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        # A naive datetime has no defined instant; guessing a zone would shift billing dates.
        raise ValueError(f"datetime must be timezone-aware: {moment!r}")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_value(value: ConditionValue) -> str:
    """One value as ConnectWise expects it in `conditions`."""
    if value is None:
        return "null"
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"condition value must be finite: {value!r}")
        return repr(value)
    if isinstance(value, datetime):
        return f"[{format_datetime(value)}]"
    if isinstance(value, str):
        return quote(value)
    raise TypeError(f"unsupported condition value: {value!r}")


def _check_field(field: str) -> str:
    # Field names come from our code, never from users; refuse anything that could break syntax.
    if not field or not all(ch.isalnum() or ch in "/_" for ch in field):
        raise ValueError(f"invalid condition field: {field!r}")
    return field


def compare(field: str, operator: str, value: ConditionValue) -> str:
    """`field<op>value`, e.g. `cancelledDate>[2026-01-01T00:00:00Z]`."""
    if operator not in ("=", "!=", "<", "<=", ">", ">="):
        raise ValueError(f"unsupported operator: {operator!r}")
    return f"{_check_field(field)}{operator}{format_value(value)}"


def eq(field: str, value: ConditionValue) -> str:
    """`field=value`."""
    return compare(field, "=", value)


def gt(field: str, value: ConditionValue) -> str:
    """`field>value`."""
    return compare(field, ">", value)


def contains(field: str, text: str) -> str:
    """`field contains "text"` (a substring match; no wildcards to escape)."""
    return f"{_check_field(field)} contains {quote(text)}"


def in_(field: str, values: Iterable[ConditionValue]) -> str:
    """`field in (1,2,3)`; an empty list is refused because ConnectWise rejects `in ()`."""
    items = [format_value(v) for v in values]
    if not items:
        raise ValueError(f"in_({field!r}) needs at least one value")
    return f"{_check_field(field)} in ({','.join(items)})"


def _join(word: str, parts: tuple[str, ...]) -> str:
    present = [p for p in parts if p]
    if not present:
        raise ValueError(f"{word}_() needs at least one condition")
    if len(present) == 1:
        return present[0]
    # Parenthesise compound parts so `a and (b or c)` keeps its meaning.
    wrapped = [f"({p})" if " and " in p or " or " in p else p for p in present]
    return f" {word} ".join(wrapped)


def and_(*parts: str) -> str:
    """Conditions joined by `and` (compound parts parenthesised)."""
    return _join("and", parts)


def or_(*parts: str) -> str:
    """Conditions joined by `or` (compound parts parenthesised)."""
    return _join("or", parts)

"""ConnectWise `conditions`: escaping, value formatting and the small builders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from billing_sync.connectwise import conditions as cond

BERLIN_WINTER = timezone(timedelta(hours=1))


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("Acme", '"Acme"'),
        ("", '""'),
        ('O"Brien', '"O\\"Brien"'),
        ("back\\slash", '"back\\\\slash"'),
        ('\\"', '"\\\\\\""'),
        ("it's (and) or", '"it\'s (and) or"'),
        ("Zoë & Co", '"Zoë & Co"'),
    ],
)
def test_quote_escapes_backslash_and_double_quote(text, quoted):
    assert cond.quote(text) == quoted


@pytest.mark.parametrize(
    ("value", "formatted"),
    [
        (None, "null"),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (42, "42"),
        (-3, "-3"),
        (2.5, "2.5"),
        ("x", '"x"'),
        (datetime(2026, 1, 31, tzinfo=UTC), "[2026-01-31T00:00:00Z]"),
        (datetime(2026, 2, 1, 0, 30, tzinfo=BERLIN_WINTER), "[2026-01-31T23:30:00Z]"),
        (datetime(2026, 1, 1, 12, 0, 0, 999999, tzinfo=UTC), "[2026-01-01T12:00:00Z]"),
    ],
)
def test_format_value(value, formatted):
    assert cond.format_value(value) == formatted


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (datetime(2026, 1, 1), ValueError),  # naive: no defined instant
        (float("nan"), ValueError),
        (float("inf"), ValueError),
        (object(), TypeError),
        ([1, 2], TypeError),
    ],
)
def test_format_value_refuses(value, error):
    with pytest.raises(error):
        cond.format_value(value)


@pytest.mark.parametrize(
    ("built", "expected"),
    [
        (cond.eq("company/id", 42), "company/id=42"),
        (cond.eq("deletedFlag", False), "deletedFlag=false"),
        (cond.eq("cancelledDate", None), "cancelledDate=null"),
        (cond.eq("name", 'A "B"'), 'name="A \\"B\\""'),
        (
            cond.gt("cancelledDate", datetime(2026, 1, 1, tzinfo=UTC)),
            "cancelledDate>[2026-01-01T00:00:00Z]",
        ),
        (cond.compare("quantity", "<=", 3), "quantity<=3"),
        (cond.contains("name", "Smith"), 'name contains "Smith"'),
        (cond.in_("id", [1, 2, 3]), "id in (1,2,3)"),
        (cond.in_("identifier", ["a", 'b"']), 'identifier in ("a","b\\"")'),
        (cond.and_("a=1"), "a=1"),
        (cond.and_("a=1", "b=2"), "a=1 and b=2"),
        (cond.or_("a=1", "b=2", "c=3"), "a=1 or b=2 or c=3"),
        (cond.and_("a=1", cond.or_("b=2", "c=3")), "a=1 and (b=2 or c=3)"),
        (cond.and_("", "a=1"), "a=1"),
    ],
)
def test_builders(built, expected):
    assert built == expected


def test_active_additions_condition():
    """The exact condition the sync uses to read an agreement's active additions."""
    active_at = datetime(2026, 1, 1, tzinfo=UTC)
    built = cond.or_(cond.eq("cancelledDate", None), cond.gt("cancelledDate", active_at))
    assert built == "cancelledDate=null or cancelledDate>[2026-01-01T00:00:00Z]"


@pytest.mark.parametrize(
    "call",
    [
        lambda: cond.in_("id", []),
        lambda: cond.and_(),
        lambda: cond.or_("", ""),
        lambda: cond.eq("name=1 or x", 1),
        lambda: cond.eq("", 1),
        lambda: cond.compare("id", "contains", 1),
    ],
)
def test_builders_refuse_bad_input(call):
    with pytest.raises(ValueError):
        call()

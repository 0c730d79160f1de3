"""The shared input rules on plain values: ids, pages, text, time zones, timestamps, echoes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from billing_sync import validation
from billing_sync.errors import InvalidInput


@pytest.mark.parametrize(
    "raw, expected", [("1", 1), (" 42 ", 42), ("2147483647", 2**31 - 1), (7, 7)]
)
def test_ids_are_ascii_digits_in_integer_range(raw, expected):
    assert validation.record_id(raw, "id") == expected


@pytest.mark.parametrize(
    "raw",
    ["", "0", "-1", "2147483648", str(2**63), "\u00b2", "\u0661", "\uff11", "1_0", "1.0", None],
)
def test_anything_else_is_no_id(raw):
    with pytest.raises(InvalidInput, match="^id must be a whole number from 1 to 2147483647$"):
        validation.record_id(raw, "id")


def test_a_page_defaults_to_one_and_is_bounded():
    assert validation.page(None) == validation.page("  ") == 1
    assert validation.page("3") == 3
    with pytest.raises(InvalidInput, match="page must be a whole number from 1 to 100000"):
        validation.page("100001")


@pytest.mark.parametrize(
    "value, message",
    [
        ("", "name is empty"),
        ("x" * 11, "name is longer than 10 characters"),
        ("a\x00b", "name contains a control character"),
        ("a\x1bb", "name contains a control character"),
        ("a\x9bb", "name contains a control character"),
    ],
)
def test_text_must_fit_its_column_and_hold_no_control(value, message):
    with pytest.raises(InvalidInput, match=f"^{message}$"):
        validation.text(value, "name", 10)


def test_text_is_stripped_and_may_be_optional():
    assert validation.text("  Acme  ", "name", 10) == "Acme"
    assert validation.text(None, "name", 10, required=False) == ""


@pytest.mark.parametrize("name", ["Mars/Olympus", "x" * 65, "../../etc/passwd", "UTC\x00"])
def test_a_time_zone_must_be_a_short_iana_name(name):
    with pytest.raises(InvalidInput, match="time zone"):
        validation.timezone(name)


def test_a_long_zone_name_is_a_value_error_not_an_os_error():
    from billing_sync.periods import validate_timezone

    with pytest.raises(ValueError, match="unknown time zone"):
        validate_timezone("Europe/" + "x" * 300)


@pytest.mark.parametrize(
    "raw", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "1899-12-31T23:59:59Z"]
)
def test_timestamps_outside_the_period_years_are_refused_not_overflowed(raw):
    with pytest.raises(InvalidInput, match="is outside the years 1900 to 9998"):
        validation.timestamp(raw, "active_from")


def test_a_timestamp_becomes_aware_utc():
    value = validation.timestamp("2026-03-01T00:00:00+01:00", "active_from")
    assert value == datetime(2026, 2, 28, 23, tzinfo=UTC)


def test_echoes_are_short_and_escaped():
    assert validation.shown("a" * 100) == repr("a" * 40 + "…")
    assert validation.shown("\x1b[2J") == "'\\x1b[2J'"
    assert validation.clipped("ab\x07", 2) == "ab…"


def test_printable_escapes_terminal_controls():
    text = "a\x1b]0;t\x07\x9b\u202eb\nc"
    assert validation.printable(text) == "a\\x1b]0;t\\x07\\x9b\\u202eb\\nc"
    assert validation.printable(text, keep_newlines=True).endswith("b\nc")


def test_e_mail_addresses_are_lower_cased_and_checked():
    assert validation.email(" Admin@Acme.TEST ") == "admin@acme.test"
    with pytest.raises(InvalidInput, match="is not an e-mail address"):
        validation.email("nobody")

"""The pure rules behind a statement: where a counted seat began, who left during the month."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from billing_sync.counting import SeatInterval
from billing_sync.statements.model import counted_since, left_during

START = datetime(2026, 10, 1, tzinfo=UTC)
B = datetime(2026, 11, 1, tzinfo=UTC)
KEY = (1, 1, "u")


def day(month: int, d: int) -> datetime:
    return datetime(2026, month, d, tzinfo=UTC)


def seats(*spans) -> list[SeatInterval]:
    return [SeatInterval(1, 1, "u", start, end) for start, end in spans]


@pytest.mark.parametrize(
    ("spans", "since"),
    [
        ([(day(8, 1), None)], day(8, 1)),
        ([(day(8, 1), day(9, 1)), (day(9, 1), None)], day(8, 1)),  # back to back: one seat
        ([(day(8, 1), day(9, 10)), (day(9, 1), None)], day(8, 1)),  # overlapping: one seat
        ([(day(8, 1), day(10, 10)), (day(10, 20), None)], day(10, 20)),  # a gap: since return
        ([(day(8, 1), B)], day(8, 1)),  # ends at B: still held
        ([(day(3, 1), day(4, 1)), (day(4, 1), day(6, 1)), (day(6, 1), None)], day(3, 1)),
    ],
)
def test_since_is_the_start_of_the_unbroken_seat_held_at_month_end(spans, since):
    assert counted_since(seats(*spans), B) == {KEY: since}


@pytest.mark.parametrize(
    "spans",
    [
        [(day(8, 1), day(10, 31))],  # ended before B
        [(B, None)],  # starts at B: next month's
        [(datetime(2026, 11, 2, tzinfo=UTC), None)],
    ],
)
def test_nobody_is_counted_without_a_seat_across_the_boundary(spans):
    assert counted_since(seats(*spans), B) == {}


@pytest.mark.parametrize(
    ("spans", "left_at"),
    [
        ([(day(8, 1), day(10, 10))], day(10, 10)),
        ([(day(10, 5), day(10, 9))], day(10, 9)),  # came and went within the month
        ([(day(8, 1), START)], START),  # ended at the first instant of the month
        ([(day(8, 1), day(10, 3)), (day(10, 5), day(10, 9))], day(10, 9)),  # the last end
        ([(day(8, 1), day(10, 10)), (day(10, 20), None)], None),  # came back: counted instead
        ([(day(8, 1), B)], None),  # ended at B: counted
        ([(day(8, 1), day(9, 30))], None),  # left in September
    ],
)
def test_left_during_the_month_means_a_seat_ended_inside_it_and_none_held_at_its_end(
    spans, left_at
):
    found = left_during(seats(*spans), START, B)
    assert (found[KEY].active_to if found else None) == left_at

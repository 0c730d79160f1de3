"""Month-end and live counts: one rule table, checked on plain values and through real SQL."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select

from billing_sync.counting import (
    SeatInterval,
    count_users,
    held_at,
    live_counts,
    month_end_counts,
    month_end_history,
)
from billing_sync.models import Company, Partner, Seat
from billing_sync.periods import Period

B = datetime(2026, 11, 1, tzinfo=UTC)  # end of October 2026 in UTC
OCT_1 = datetime(2026, 10, 1, tzinfo=UTC)
SEP_1 = datetime(2026, 9, 1, tzinfo=UTC)
TICK = timedelta(microseconds=1)

# name, seats as (company, product, user, active_from, active_to), expected month-end counts at B
MONTH_END_CASES = [
    ("starts exactly at B: not counted", [("1001", "pb-business", "u1", B, None)], {}),
    (
        "ends exactly at B: counted",
        [("1001", "pb-business", "u1", OCT_1, B)],
        {("1001", "pb-business"): 1},
    ),
    ("ends just before B: not counted", [("1001", "pb-business", "u1", OCT_1, B - TICK)], {}),
    (
        "starts just before B: counted",
        [("1001", "pb-business", "u1", B - TICK, None)],
        {("1001", "pb-business"): 1},
    ),
    (
        "ended and started inside the month: not counted",
        [("1001", "pb-business", "u1", OCT_1, OCT_1 + timedelta(days=3))],
        {},
    ),
    (
        "ends after B: counted",
        [("1001", "pb-business", "u1", SEP_1, B + timedelta(days=2))],
        {("1001", "pb-business"): 1},
    ),
    (
        "re-activated user, two intervals: counted once",
        [
            ("1001", "pb-business", "u1", SEP_1, OCT_1 + timedelta(days=9)),
            ("1001", "pb-business", "u1", OCT_1 + timedelta(days=19), None),
        ],
        {("1001", "pb-business"): 1},
    ),
    (
        "overlapping intervals of one user across B: counted once",
        [
            ("1001", "pb-business", "u1", SEP_1, None),
            ("1001", "pb-business", "u1", OCT_1, B + timedelta(days=30)),
        ],
        {("1001", "pb-business"): 1},
    ),
    (
        "one user on two products: counted for each",
        [("1001", "pb-business", "u1", SEP_1, None), ("1001", "pb-personal", "u1", SEP_1, None)],
        {("1001", "pb-business"): 1, ("1001", "pb-personal"): 1},
    ),
    (
        "same user id at two companies: counted at each",
        [("1001", "pb-business", "u1", SEP_1, None), ("1002", "pb-business", "u1", SEP_1, None)],
        {("1001", "pb-business"): 1, ("1002", "pb-business"): 1},
    ),
    (
        "several users, some gone: only those across B",
        [
            ("1001", "pb-business", "u1", SEP_1, None),
            ("1001", "pb-business", "u2", SEP_1, B),
            ("1001", "pb-business", "u3", SEP_1, OCT_1),
            ("1001", "pb-business", "u4", B, None),
        ],
        {("1001", "pb-business"): 2},
    ),
]

# name, seats, instant t, expected live counts at t
LIVE_CASES = [
    (
        "starts exactly at t: live",
        [("1001", "pb-business", "u1", B, None)],
        B,
        {("1001", "pb-business"): 1},
    ),
    ("ends exactly at t: not live", [("1001", "pb-business", "u1", OCT_1, B)], B, {}),
    ("starts after t: not live", [("1001", "pb-business", "u1", B + TICK, None)], B, {}),
    (
        "re-activated user: counted once",
        [("1001", "pb-business", "u1", SEP_1, None), ("1001", "pb-business", "u1", OCT_1, None)],
        B,
        {("1001", "pb-business"): 1},
    ),
]


def _ids(seats):
    """Plain-value stand-ins for database ids: company '1001' -> 1001, products by code."""
    products = {"pb-business": 1, "pb-personal": 2}
    intervals = [
        SeatInterval(int(company), products[product], user, start, end)
        for company, product, user, start, end in seats
    ]
    return intervals, lambda expected: {
        (int(company), products[product]): n for (company, product), n in expected.items()
    }


@pytest.mark.parametrize(
    ("name", "seats", "expected"), MONTH_END_CASES, ids=lambda v: v if isinstance(v, str) else ""
)
def test_month_end_rule_on_plain_values(name, seats, expected):
    intervals, keyed = _ids(seats)
    assert count_users(intervals, B) == keyed(expected)


@pytest.mark.parametrize(
    ("name", "seats", "at", "expected"), LIVE_CASES, ids=lambda v: v if isinstance(v, str) else ""
)
def test_live_rule_on_plain_values(name, seats, at, expected):
    intervals, keyed = _ids(seats)
    live = {}
    for seat in intervals:
        if held_at(seat, at):
            live.setdefault((seat.company_id, seat.product_id), set()).add(seat.user)
    assert {key: len(users) for key, users in live.items()} == keyed(expected)


def _seed(add_seat, seats):
    for company, product, user, start, end in seats:
        add_seat(company, product, user, start, end)


def _keyed(session, products, counts):
    """Database counts keyed by (external id, product code) for readable assertions."""
    companies = {
        key: value for key, value in session.execute(select(Company.id, Company.external_id))
    }
    codes = {p.id: code for code, p in products.items()}
    return {(companies[c], codes[p]): n for (c, p), n in counts.items()}


@pytest.mark.parametrize(
    ("name", "seats", "expected"), MONTH_END_CASES, ids=lambda v: v if isinstance(v, str) else ""
)
def test_month_end_counts_in_sql(session, partner, products, add_seat, name, seats, expected):
    _seed(add_seat, seats)
    assert _keyed(session, products, month_end_counts(session, partner.id, B)) == expected


@pytest.mark.parametrize(
    ("name", "seats", "at", "expected"), LIVE_CASES, ids=lambda v: v if isinstance(v, str) else ""
)
def test_live_counts_in_sql(session, partner, products, add_seat, name, seats, at, expected):
    _seed(add_seat, seats)
    assert _keyed(session, products, live_counts(session, partner.id, at)) == expected


def test_live_and_month_end_differ_for_a_user_who_left_after_month_end(
    session, partner, products, add_seat
):
    add_seat("1001", "pb-business", "stays", SEP_1, None)
    add_seat("1001", "pb-business", "left", SEP_1, B + timedelta(days=5))
    add_seat("1001", "pb-business", "joined", B + timedelta(days=2), None)
    at = B + timedelta(days=10)
    assert _keyed(session, products, month_end_counts(session, partner.id, B)) == {
        ("1001", "pb-business"): 2
    }
    assert _keyed(session, products, live_counts(session, partner.id, at)) == {
        ("1001", "pb-business"): 2
    }
    assert _keyed(session, products, live_counts(session, partner.id, B + timedelta(days=3))) == {
        ("1001", "pb-business"): 3
    }


def test_counts_are_scoped_to_the_partner(session, partner, products, add_seat):
    add_seat("1001", "pb-business", "u1", SEP_1, None)
    other = Partner(name="other-msp", timezone="UTC", created_at=SEP_1)
    session.add(other)
    session.flush()
    foreign = Company(partner_id=other.id, external_id="1001", name="Theirs")
    session.add(foreign)
    session.flush()
    session.add(
        Seat(
            partner_id=other.id,
            company_id=foreign.id,
            product_id=products["pb-business"].id,
            user_external_id="u9",
            active_from=SEP_1,
            updated_at=SEP_1,
        )
    )
    session.flush()
    assert list(month_end_counts(session, partner.id, B).values()) == [1]
    assert month_end_counts(session, other.id, B) == {(foreign.id, products["pb-business"].id): 1}


@contextmanager
def selects_counted(session):
    """Count the SELECT statements the session's engine sends while the block runs."""
    statements: list[str] = []
    engine = session.get_bind()

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_month_end_counts_is_one_query_for_200_companies(session, partner, products, add_seat):
    for n in range(200):
        for user in range(3):
            add_seat(str(2000 + n), "pb-business", f"u{user}", SEP_1, None)
        add_seat(str(2000 + n), "pb-personal", "u0", SEP_1, B)
    session.commit()
    with selects_counted(session) as statements:
        counts = month_end_counts(session, partner.id, B)
        live = live_counts(session, partner.id, B)
    assert len(statements) == 2
    assert len(counts) == 400
    assert sorted(set(counts.values())) == [1, 3]
    assert len(live) == 200


def test_month_end_history_matches_month_by_month_counts_in_one_query(
    session, partner, products, add_seat
):
    tz = "Europe/Amsterdam"
    start = datetime(2026, 1, 15, tzinfo=UTC)
    for month in range(12):
        joined = start + timedelta(days=30 * month)
        add_seat("1001", "pb-business", f"u{month}", joined, joined + timedelta(days=95))
        add_seat("1002", "pb-personal", f"v{month}", joined, None)
    add_seat("1001", "pb-business", "edge", SEP_1, Period(2026, 9).end(tz))  # ends exactly at B
    session.commit()
    periods = [Period(2026, 1)]
    while len(periods) < 12:
        periods.append(periods[-1].next())
    with selects_counted(session) as statements:
        history = month_end_history(session, partner.id, periods, tz)
    assert len(statements) == 1
    assert list(history) == periods
    for period in periods:
        assert history[period] == month_end_counts(session, partner.id, period.end(tz)), period
    assert history[Period(2026, 12)][(_company(session, "1002"), products["pb-personal"].id)] == 12
    acme = _company(session, "1001")
    only = month_end_history(session, partner.id, periods, tz, company_id=acme)
    for period in periods:
        assert only[period] == {k: n for k, n in history[period].items() if k[0] == acme}
    assert only[Period(2026, 9)] == {(acme, products["pb-business"].id): 4}


def _company(session, external_id):
    return session.scalar(select(Company.id).where(Company.external_id == external_id))


def test_month_end_history_of_no_periods_is_empty_without_a_query(session, partner):
    with selects_counted(session) as statements:
        assert month_end_history(session, partner.id, [], "UTC") == {}
    assert statements == []


def test_naive_boundaries_are_refused(session, partner):
    with pytest.raises(ValueError, match="naive"):
        month_end_counts(session, partner.id, datetime(2026, 11, 1))
    with pytest.raises(ValueError, match="naive"):
        live_counts(session, partner.id, datetime(2026, 11, 1))

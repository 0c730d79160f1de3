"""Month close: counts freeze once, late back-dated changes only warn."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from billing_sync import closing
from billing_sync.closing import close_period, frozen_counts, late_changes
from billing_sync.models import Company, PeriodClose, Seat, Snapshot
from billing_sync.periods import Period

OCTOBER = Period(2026, 10)
TZ = "Europe/Amsterdam"
B = OCTOBER.end(TZ)  # 2026-10-31T23:00Z
SEP_1 = datetime(2026, 9, 1, tzinfo=UTC)


def _rows(session, model):
    return session.scalar(select(func.count()).select_from(model))


def test_a_period_cannot_close_before_its_boundary(session, partner, add_seat):
    with pytest.raises(ValueError, match="cannot close before"):
        close_period(session, partner.id, OCTOBER, TZ, now=B - timedelta(seconds=1), run_id=None)
    assert frozen_counts(session, partner.id, OCTOBER) is None


def test_first_close_freezes_counts_and_later_closes_change_nothing(
    session, partner, products, add_seat
):
    add_seat("1001", "pb-business", "u1", SEP_1)
    add_seat("1001", "pb-business", "u2", SEP_1, B)  # ends exactly at B: counted
    add_seat("1001", "pb-personal", "u1", B)  # starts at B: not counted
    session.commit()

    assert close_period(session, partner.id, OCTOBER, TZ, now=B, run_id=None) is True
    session.commit()
    business = products["pb-business"].id
    acme = session.scalar(select(Company.id))
    assert frozen_counts(session, partner.id, OCTOBER) == {(acme, business): 2}
    marker = session.scalars(select(PeriodClose)).one()
    assert (marker.period, marker.boundary, marker.closed_at) == (OCTOBER.first_day, B, B)

    later = B + timedelta(days=3)
    assert close_period(session, partner.id, OCTOBER, TZ, now=later, run_id=None) is False
    assert (_rows(session, PeriodClose), _rows(session, Snapshot)) == (1, 1)


def test_back_dated_changes_keep_the_frozen_count_and_show_as_late_changes(
    session, partner, products, add_seat, company
):
    company("1001", "Acme")
    add_seat("1001", "pb-business", "u1", SEP_1)
    personal = add_seat("1001", "pb-personal", "u1", SEP_1)
    session.commit()
    assert close_period(session, partner.id, OCTOBER, TZ, now=B + timedelta(hours=2), run_id=None)
    session.commit()
    frozen = frozen_counts(session, partner.id, OCTOBER)
    assert late_changes(session, partner.id, OCTOBER, TZ) == []

    # Back-dated: a user added in mid-October, another product ended before month end.
    add_seat("1001", "pb-business", "u2", datetime(2026, 10, 15, tzinfo=UTC))
    personal.active_to = datetime(2026, 10, 20, tzinfo=UTC)
    session.commit()

    assert frozen_counts(session, partner.id, OCTOBER) == frozen
    assert late_changes(session, partner.id, OCTOBER, TZ) == [
        "Acme (ext 1001) / pb-business: seats changed after 2026-10 closed: frozen 1, now 2; "
        "the frozen count stays billed",
        "Acme (ext 1001) / pb-personal: seats changed after 2026-10 closed: frozen 1, now 0; "
        "the frozen count stays billed",
    ]


def test_late_changes_of_an_open_period_are_none(session, partner):
    assert late_changes(session, partner.id, OCTOBER, TZ) == []


def test_closing_an_empty_period_still_marks_it_closed(session, partner):
    assert close_period(session, partner.id, OCTOBER, TZ, now=B, run_id=None) is True
    assert frozen_counts(session, partner.id, OCTOBER) == {}


def test_losing_a_close_race_returns_false_and_keeps_the_callers_transaction(
    session, partner, products, add_seat, monkeypatch
):
    add_seat("1001", "pb-business", "u1", SEP_1)
    assert close_period(session, partner.id, OCTOBER, TZ, now=B, run_id=None)
    session.commit()
    # The other process closed it between our check and our insert: only the constraint knows.
    monkeypatch.setattr(closing, "_period_close", lambda *args: None)
    pending = add_seat("1002", "pb-business", "u5", SEP_1)

    assert close_period(session, partner.id, OCTOBER, TZ, now=B, run_id=None) is False
    session.commit()
    assert (_rows(session, PeriodClose), _rows(session, Snapshot)) == (1, 1)
    assert session.get(Seat, pending.id) is not None


def test_two_sessions_racing_to_close_produce_one_close(
    session_factory, partner, add_seat, session
):
    add_seat("1001", "pb-business", "u1", SEP_1)
    session.commit()
    session.close()
    results: dict[str, bool] = {}

    def second():
        with session_factory() as other:
            results["second"] = close_period(other, partner.id, OCTOBER, TZ, now=B, run_id=None)
            other.commit()

    with session_factory() as first:
        results["first"] = close_period(first, partner.id, OCTOBER, TZ, now=B, run_id=None)
        racer = threading.Thread(target=second)
        racer.start()
        racer.join(0.5)  # the second session now waits on our lock (SQLite) or row (PostgreSQL)
        first.commit()
    racer.join(30)
    assert results == {"first": True, "second": False}
    with session_factory() as check:
        assert (_rows(check, PeriodClose), _rows(check, Snapshot)) == (1, 1)

"""The scheduler tick: due slots from persisted state, claims, catch-up, month close, checks."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from billing_sync.lease import acquire_lease
from billing_sync.models import Partner, RunLease, Schedule
from billing_sync.scheduler.service import get_schedule, set_alerts, set_schedule

NY = "America/New_York"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def scheduled(
    h,
    name="msp",
    tz="UTC",
    *,
    frequency="daily",
    weekday=None,
    at="02:30",
    enabled=True,
    connected=False,
) -> int:
    """A partner with a schedule set at the harness clock's time; returns its id."""
    from tests.scheduler.conftest import add_partner

    site = "http://127.0.0.1:9" if connected else None
    pid = add_partner(
        h.factory, h.settings, name, site=site, tz=tz, enabled=enabled, now=h.clock.now
    )
    with h.factory.begin() as session:
        set_schedule(
            session,
            session.get(Partner, pid),
            frequency,
            weekday=weekday,
            at_time=at,
            now=h.clock.now,
            month_close_at=h.settings.month_close_at,
        )
    return pid


def schedule_of(h, pid: int) -> Schedule:
    with h.factory() as session:
        return get_schedule(session, pid)


def test_a_due_run_runs_once_and_moves_to_the_next_slot(harness):
    h = harness
    pid = scheduled(h)
    h.tick()
    assert h.triggers() == []  # 01:00, the 02:30 slot is not due yet
    h.clock.now = utc(2026, 3, 1, 2, 30)
    h.tick()
    h.tick()
    assert h.triggers() == [(pid, "schedule", utc(2026, 3, 1, 2, 30))]
    assert schedule_of(h, pid).next_run_at == utc(2026, 3, 2, 2, 30)
    assert schedule_of(h, pid).last_run_at == utc(2026, 3, 1, 2, 30)


def test_catch_up_after_downtime_runs_once_not_once_per_missed_slot(harness):
    h = harness
    pid = scheduled(h)
    h.clock.now = utc(2026, 3, 11, 9)  # down for ten days
    h.tick()
    h.tick()
    assert h.triggers() == [(pid, "schedule", utc(2026, 3, 11, 9))]
    assert schedule_of(h, pid).next_run_at == utc(2026, 3, 12, 2, 30)


def test_month_close_runs_right_after_the_boundary_in_the_partner_zone(harness):
    h = harness
    h.clock.now = utc(2026, 10, 29, 12)  # a Thursday: the next Wednesday run is after the close
    pid = scheduled(h, tz=NY, frequency="weekly", weekday=2, at="09:00")
    assert schedule_of(h, pid).next_month_close_at == utc(2026, 11, 1, 4, 15)  # 00:15 EDT
    h.clock.now = utc(2026, 11, 1, 4, 14)
    h.tick()
    assert h.triggers() == []
    h.clock.now = utc(2026, 11, 1, 4, 15)
    h.tick()
    h.tick()
    assert h.triggers() == [(pid, "month_close", utc(2026, 11, 1, 4, 15))]
    row = schedule_of(h, pid)
    assert row.last_month_close_period == date(2026, 10, 1)
    assert row.next_month_close_at == utc(2026, 12, 1, 5, 15)  # 00:15 EST


def test_a_regular_slot_due_with_the_month_close_is_one_run(harness):
    h = harness
    h.clock.now = utc(2026, 1, 31, 12)
    pid = scheduled(h, at="00:15")
    h.clock.now = utc(2026, 2, 1, 0, 15)
    h.tick()
    assert h.triggers() == [(pid, "month_close", utc(2026, 2, 1, 0, 15))]
    row = schedule_of(h, pid)
    assert (row.next_run_at, row.next_month_close_at) == (
        utc(2026, 2, 2, 0, 15),
        utc(2026, 3, 1, 0, 15),
    )


def test_a_missed_month_close_runs_once_after_a_long_downtime(harness):
    h = harness
    h.clock.now = utc(2026, 1, 15)
    pid = scheduled(h, frequency="weekly", weekday=0, at="08:00")
    h.clock.now = utc(2026, 3, 10, 7)  # two boundaries and several Mondays missed
    h.tick()
    h.tick()
    assert h.triggers() == [(pid, "month_close", utc(2026, 3, 10, 7))]
    row = schedule_of(h, pid)
    assert row.last_month_close_period == date(2026, 2, 1)
    assert row.next_month_close_at == utc(2026, 4, 1, 0, 15)
    assert row.next_run_at == utc(2026, 3, 16, 8)


def test_a_month_close_blocked_by_a_live_run_is_retried_until_it_runs(harness):
    h = harness
    h.clock.now = utc(2026, 3, 31, 12)
    pid = scheduled(h, frequency="weekly", weekday=0, at="08:00")
    h.clock.now = utc(2026, 4, 1, 0, 20)
    assert acquire_lease(h.factory, pid, "sync-now-elsewhere", seconds=300)
    h.tick()
    assert h.triggers() == []
    assert schedule_of(h, pid).next_month_close_at == utc(2026, 4, 1, 0, 15)  # still due
    with h.factory.begin() as session:
        session.delete(session.get(RunLease, pid))
    h.clock.advance(seconds=5)
    h.tick()
    assert [t for t in h.triggers() if t[1] == "month_close"]
    assert schedule_of(h, pid).next_month_close_at == utc(2026, 5, 1, 0, 15)


def test_a_failed_month_close_is_retried_after_a_pause_until_it_succeeds(harness):
    h = harness
    h.clock.now = utc(2026, 3, 31, 12)
    pid = scheduled(h, frequency="weekly", weekday=0, at="08:00")
    h.run.status = "failed"  # ConnectWise down at the month boundary
    h.clock.now = utc(2026, 4, 1, 0, 15)
    h.tick()
    assert schedule_of(h, pid).next_month_close_at == utc(2026, 4, 1, 0, 30)
    h.clock.advance(minutes=5)
    h.tick()  # not yet: a failing ConnectWise is not hammered every tick
    h.run.status = "succeeded"
    h.clock.now = utc(2026, 4, 1, 0, 30)
    h.tick()
    assert [t[1] for t in h.triggers()] == ["month_close", "month_close"]
    assert schedule_of(h, pid).next_month_close_at == utc(2026, 5, 1, 0, 15)


def test_an_interrupted_month_close_runs_again_on_the_next_start(harness):
    h = harness
    h.clock.now = utc(2026, 3, 31, 12)
    pid = scheduled(h, frequency="weekly", weekday=0, at="08:00")
    h.run.status = "interrupted"  # SIGTERM arrived mid-run
    h.clock.now = utc(2026, 4, 1, 0, 15)
    h.tick()
    assert schedule_of(h, pid).next_month_close_at == utc(2026, 4, 1, 0, 15)
    h.run.status = "succeeded"
    h.clock.advance(minutes=3)
    h.tick()
    assert [t[1] for t in h.triggers()] == ["month_close", "month_close"]
    assert schedule_of(h, pid).next_month_close_at == utc(2026, 5, 1, 0, 15)


def test_a_regular_run_during_a_live_run_is_skipped_not_repeated(harness, caplog):
    h = harness
    pid = scheduled(h)
    h.clock.now = utc(2026, 3, 1, 2, 30)
    assert acquire_lease(h.factory, pid, "sync-now", seconds=300)
    with caplog.at_level(logging.INFO, "billing_sync.scheduler"):
        h.tick()
    assert "another run holds the lease" in caplog.text
    assert schedule_of(h, pid).next_run_at == utc(2026, 3, 2, 2, 30)


def test_an_expired_lease_of_a_killed_holder_does_not_block(harness):
    h = harness
    pid = scheduled(h)
    h.clock.now = utc(2026, 3, 1, 2, 30)
    with h.factory.begin() as session:
        session.add(
            RunLease(
                partner_id=pid,
                holder="dead-host:4242:abcd",
                run_id=None,
                acquired_at=h.clock.now - timedelta(hours=1),
                expires_at=h.clock.now - timedelta(minutes=55),
            )
        )
    h.tick()
    assert h.triggers() == [(pid, "schedule", h.clock.now)]


def test_a_failing_job_is_logged_with_partner_and_alerted_and_the_loop_goes_on(
    harness, caplog, webhook_receiver
):
    h = harness
    first = scheduled(h, "first")
    second = scheduled(h, "second")
    with h.factory.begin() as session:
        set_alerts(
            session,
            session.get(Partner, first),
            None,
            webhook_receiver.url,
            now=h.clock.now,
            allow_private_hosts=True,
        )
    h.run.error = RuntimeError("database went away")
    h.clock.now = utc(2026, 3, 1, 2, 30)
    with caplog.at_level(logging.INFO, "billing_sync.scheduler"):
        h.tick()
    assert [c[0] for c in h.triggers()] == [first, second]
    assert "partner first (id 1) run None (schedule) raised" in caplog.text
    assert [r["json"]["kind"] for r in webhook_receiver.received] == ["run_failed"]
    assert "database went away" in webhook_receiver.received[0]["json"]["message"]


def test_failed_and_partial_runs_alert_succeeded_runs_do_not(harness, webhook_receiver):
    h = harness
    pid = scheduled(h)
    with h.factory.begin() as session:
        set_alerts(
            session,
            session.get(Partner, pid),
            None,
            webhook_receiver.url,
            now=h.clock.now,
            allow_private_hosts=True,
        )
    for status in ("succeeded", "partial", "failed", "interrupted"):
        h.run.status = status
        h.clock.now = schedule_of(h, pid).next_run_at
        h.tick()
    assert [r["json"]["kind"] for r in webhook_receiver.received] == ["run_partial", "run_failed"]
    assert webhook_receiver.received[0]["json"]["partner"] == "msp"
    assert webhook_receiver.received[0]["json"]["run_id"] == 2


def test_a_disabled_integration_runs_nothing_but_time_moves_on(harness):
    h = harness
    pid = scheduled(h, enabled=False)
    h.clock.now = utc(2026, 3, 5)
    h.tick()
    assert h.triggers() == []
    assert schedule_of(h, pid).next_run_at == utc(2026, 3, 5, 2, 30)


def test_connected_partners_without_a_schedule_get_month_close_and_checks(harness):
    h = harness
    from tests.scheduler.conftest import add_partner

    pid = add_partner(h.factory, h.settings, "plain", site="http://127.0.0.1:9", now=h.clock.now)
    add_partner(
        h.factory, h.settings, "offline", site="http://127.0.0.1:9", enabled=False, now=h.clock.now
    )
    h.tick()
    assert h.check.calls == [pid] and h.triggers() == []
    row = schedule_of(h, pid)
    assert (row.enabled, row.next_run_at) == (False, None)
    assert row.next_month_close_at == utc(2026, 4, 1, 0, 15)
    h.clock.now = utc(2026, 4, 1, 0, 15)
    h.tick()
    assert h.triggers() == [(pid, "month_close", h.clock.now)]
    with h.factory() as session:
        assert session.scalars(select(Schedule.partner_id)).all() == [pid]


def test_a_failing_credentials_check_alerts_once_a_day(harness, webhook_receiver):
    from billing_sync.connectwise.errors import AuthenticationError

    h = harness
    pid = scheduled(h, connected=True)
    with h.factory.begin() as session:
        set_alerts(
            session,
            session.get(Partner, pid),
            None,
            webhook_receiver.url,
            now=h.clock.now,
            allow_private_hosts=True,
        )
    h.check.error = AuthenticationError("ConnectWise refused the credentials (401)")
    h.tick()
    h.clock.advance(hours=23)
    h.tick()
    assert h.check.calls == [pid]
    assert [r["json"]["kind"] for r in webhook_receiver.received] == ["credentials_failed"]
    assert "check the connectwise site" in webhook_receiver.received[0]["json"]["message"].lower()
    h.clock.advance(hours=1)
    h.tick()
    assert h.check.calls == [pid, pid]


def test_weekly_runs_only_on_its_weekday_through_dst_and_month_end(harness):
    h = harness
    h.clock.now = utc(2026, 3, 1, 6)  # Sunday 01:00 in New York
    pid = scheduled(h, tz=NY, frequency="weekly", weekday=6, at="02:30")
    while h.clock.now < utc(2026, 4, 2):
        h.tick()
        h.clock.advance(minutes=30)
    runs = [(t, when) for p, t, when in h.triggers() if p == pid]
    assert runs == [
        ("schedule", utc(2026, 3, 1, 7, 30)),  # 02:30 EST
        ("schedule", utc(2026, 3, 8, 7, 30)),  # spring forward: 03:30 EDT
        ("schedule", utc(2026, 3, 15, 6, 30)),
        ("schedule", utc(2026, 3, 22, 6, 30)),
        ("schedule", utc(2026, 3, 29, 6, 30)),
        ("month_close", utc(2026, 4, 1, 4, 30)),
    ]  # first tick after 00:15 EDT


def test_daily_runs_once_a_day_across_fall_back_in_amsterdam(harness):
    h = harness
    h.clock.now = utc(2026, 10, 24, 12)
    pid = scheduled(h, tz="Europe/Amsterdam", at="02:30")
    while h.clock.now < utc(2026, 10, 27, 12):
        h.tick()
        h.clock.advance(minutes=10)
    assert [when for p, t, when in h.triggers() if p == pid] == [
        utc(2026, 10, 25, 0, 30),  # the first 02:30 (CEST); the second one passes silently
        utc(2026, 10, 26, 1, 30),  # 02:30 CET
        utc(2026, 10, 27, 1, 30),
    ]


def test_concurrent_ticks_run_each_due_slot_once(session_factory, settings):
    from tests.scheduler.conftest import Clock, FakeCheck, FakeRun, Harness

    clock = Clock(utc(2026, 3, 1))
    run = FakeRun(delay=0.05)
    harnesses = [Harness(session_factory, settings, clock, run, FakeCheck()) for _ in range(3)]
    ids = [scheduled(harnesses[0], f"p{i}") for i in range(5)]
    clock.now = utc(2026, 3, 2, 3)
    threads = [threading.Thread(target=h.tick) for h in harnesses for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(c[0] for c in run.calls) == ids

"""Schedule and alert settings services: validation and the persisted next instants."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from billing_sync import partners
from billing_sync.errors import InvalidInput
from billing_sync.scheduler.service import (
    get_alerts,
    next_runs,
    refresh_schedule,
    set_alerts,
    set_schedule,
)

NOW = datetime(2026, 3, 4, 12, tzinfo=UTC)  # a Wednesday


@pytest.fixture
def partner(session):
    return partners.create_partner(session, "msp", timezone="America/New_York", now=NOW)


def test_daily_schedule_persists_next_run_and_month_close(session, partner):
    schedule = set_schedule(session, partner, "daily", weekday=None, at_time="02:30", now=NOW)
    assert (schedule.frequency, schedule.weekday, schedule.at_time) == ("daily", None, "02:30")
    assert schedule.next_run_at == datetime(2026, 3, 5, 7, 30, tzinfo=UTC)
    assert schedule.next_month_close_at == datetime(2026, 4, 1, 4, 15, tzinfo=UTC)
    assert schedule.next_credentials_check_at == NOW


def test_weekly_schedule_accepts_a_weekday_name_and_replaces_the_old_one(session, partner):
    set_schedule(session, partner, "daily", weekday=None, at_time="02:30", now=NOW)
    schedule = set_schedule(
        session, partner, "weekly", weekday="mon", at_time="06:00", now=NOW, month_close_at="01:00"
    )
    assert schedule.weekday == 0
    assert schedule.next_run_at == datetime(2026, 3, 9, 10, tzinfo=UTC)  # Monday 06:00 EDT
    assert schedule.next_month_close_at == datetime(2026, 4, 1, 5, tzinfo=UTC)
    runs = next_runs(session, partner.id)
    assert runs.describe() == (
        "regular runs: weekly on mon at 06:00 (America/New_York); "
        "next run 2026-03-09 06:00 EDT; "
        "next month close 2026-04-01 01:00 EDT"
    )


@pytest.mark.parametrize(
    ("frequency", "weekday", "at", "message"),
    [
        ("hourly", None, "02:30", "frequency"),
        ("weekly", None, "02:30", "needs a weekday"),
        ("weekly", "someday", "02:30", "weekday"),
        ("daily", 2, "02:30", "takes no weekday"),
        ("daily", None, "2:30", "HH:MM"),
        ("daily", None, "25:00", "HH:MM"),
    ],
)
def test_bad_schedules_are_refused_and_change_nothing(
    session, partner, frequency, weekday, at, message
):
    with pytest.raises(InvalidInput, match=message):
        set_schedule(session, partner, frequency, weekday=weekday, at_time=at, now=NOW)
    assert next_runs(session, partner.id) is None


def test_disabled_schedule_keeps_month_close_but_no_regular_run(session, partner):
    set_schedule(session, partner, "daily", weekday=None, at_time="02:30", now=NOW, enabled=False)
    runs = next_runs(session, partner.id)
    assert runs.next_run_at is None and runs.next_month_close_at is not None
    assert runs.describe().startswith("regular runs: off")


def test_refresh_follows_a_time_zone_change(session, partner):
    schedule = set_schedule(session, partner, "daily", weekday=None, at_time="02:30", now=NOW)
    partners.update_partner_settings(partner, timezone="Europe/Amsterdam")
    refresh_schedule(schedule, partner, now=NOW)
    assert schedule.next_run_at == datetime(2026, 3, 5, 1, 30, tzinfo=UTC)
    assert schedule.next_month_close_at == datetime(2026, 3, 31, 22, 15, tzinfo=UTC)
    assert next_runs(session, partner.id).last_month_close_period is None


def test_alert_settings_are_validated_and_stored_normalised(session, partner):
    saved = set_alerts(
        session,
        partner,
        "ops@example.com; billing@example.org",
        "http://127.0.0.1:8080/hook",
        now=NOW,
        allow_private_hosts=True,
    )
    assert saved.email_to == "ops@example.com, billing@example.org"
    assert saved.webhook_url == "http://127.0.0.1:8080/hook"
    set_alerts(session, partner, "", None, now=NOW)
    assert (
        get_alerts(session, partner.id).email_to,
        get_alerts(session, partner.id).webhook_url,
    ) == (None, None)


@pytest.mark.parametrize(
    ("email", "url", "message"),
    [
        ("not-an-address", None, "not an e-mail address"),
        ("ok@example.com, @broken", None, "@broken"),
        (None, "ftp://example.com/hook", "http"),
        (None, "http://127.0.0.1/hook", "private or loopback"),
        (None, "http://10.1.2.3/hook", "private or loopback"),
        (None, "https://169.254.169.254/latest", "private or loopback"),
        (None, "http://[::1]:8080/hook", "private or loopback"),
    ],
)
def test_bad_alert_settings_are_refused(session, partner, email, url, message):
    with pytest.raises(InvalidInput, match=message):
        set_alerts(session, partner, email, url, now=NOW, allow_private_hosts=False)
    assert get_alerts(session, partner.id) is None

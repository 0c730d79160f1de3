"""`billing-sync schedule set|show` and `alerts set`: zone-local output, one-line errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from billing_sync import partners
from billing_sync.cli.scheduler_cmd import alerts, schedule
from billing_sync.scheduler.service import get_alerts, get_schedule


@pytest.fixture
def invoke(settings, session_factory):
    with session_factory.begin() as session:
        partners.create_partner(session, "msp", timezone="Europe/Amsterdam", now=datetime.now(UTC))
    env = {
        "BILLING_SYNC_DATABASE_URL": settings.database_url,
        "BILLING_SYNC_SECRET_KEY": settings.secret_key,
        "BILLING_SYNC_ALLOW_PRIVATE_HOSTS": "1",
        "BILLING_SYNC_MONTH_CLOSE_AT": "00:30",
    }

    def run(command, *args: str):
        return CliRunner().invoke(command, list(args), env=env)

    return run


def test_schedule_set_prints_the_next_run_in_the_partner_zone(invoke, session):
    result = invoke(
        schedule, "set", "msp", "weekly", "--weekday", "fri", "--at", "02:30", "--basis", "live"
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith(
        "msp: regular runs: weekly on fri at 02:30 (Europe/Amsterdam); next run "
    )
    assert " CE" in result.output and "next month close" in result.output
    assert "00:30 CE" in result.output  # BILLING_SYNC_MONTH_CLOSE_AT
    partner = partners.get_partner(session, "msp")
    assert partner.count_basis == "live"
    row = get_schedule(session, partner.id)
    assert (row.frequency, row.weekday, row.at_time) == ("weekly", 4, "02:30")
    assert invoke(schedule, "show", "msp").output == result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("set", "msp", "weekly", "--at", "02:30"), "a weekly schedule needs a weekday"),
        (("set", "msp", "daily", "--at", "7pm"), "HH:MM"),
        (("set", "nobody", "daily", "--at", "02:30"), "no partner named 'nobody'"),
    ],
)
def test_schedule_set_errors_are_one_line_and_change_nothing(invoke, session, args, message):
    result = invoke(schedule, *args)
    assert result.exit_code == 1
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert get_schedule(session, partners.get_partner(session, "msp").id) is None


def test_alerts_set_keeps_an_omitted_channel(invoke, session):
    assert invoke(alerts, "set", "msp", "--email", "ops@msp.example").exit_code == 0
    result = invoke(alerts, "set", "msp", "--webhook", "http://127.0.0.1:9000/hook")
    assert result.exit_code == 0, result.output
    assert result.output == (
        "msp: alerts to e-mail ops@msp.example, webhook http://127.0.0.1:9000/hook\n"
    )
    assert invoke(alerts, "set", "msp", "--email", "").exit_code == 0
    saved = get_alerts(session, partners.get_partner(session, "msp").id)
    assert (saved.email_to, saved.webhook_url) == (None, "http://127.0.0.1:9000/hook")
    bad = invoke(alerts, "set", "msp", "--email", "nope")
    assert bad.exit_code == 1 and "not an e-mail address: nope" in bad.output

"""Holds are loud: one alert per run that holds something, the month close, and /metrics."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from billing_sync import health
from billing_sync.models import Partner
from billing_sync.scheduler import jobs, slots
from billing_sync.scheduler.service import set_alerts, set_schedule
from billing_sync.sync import begin_run
from billing_sync.sync.dispatch import carry_out
from tests.guardrails.helpers import DEFAULTS, make_live, set_count, set_rules, sync
from tests.sync.conftest import NO_HOLDS, NOW


@pytest.fixture
def scheduled(session_factory, settings, world, webhook_receiver):
    """ext-001 pb-business written at 2, then counted at 25 (a held rise); alerts to a webhook."""
    make_live(session_factory, world)
    with session_factory.begin() as session:
        partner = session.get(Partner, world.partner_id)
        set_schedule(session, partner, "daily", weekday=None, at_time="02:00", now=NOW)
        set_alerts(session, partner, None, webhook_receiver.url, now=NOW, allow_private_hosts=True)
    set_rules(session_factory, world, NO_HOLDS)
    sync(session_factory, settings, world)
    set_rules(session_factory, world, DEFAULTS)
    set_count(session_factory, world, "ext-001", "pb-business", 25)
    return world


def _scheduled_run(factory, settings, world, trigger: str, now=NOW) -> str:
    with factory() as session:
        slot = slots.schedule_for(session, world.partner_id)
    return jobs.run(
        factory, settings, slot, trigger, now=now, jobs=jobs.Jobs(), stop=threading.Event()
    )


def test_a_run_that_holds_alerts_once_and_a_repeat_stays_quiet(
    session_factory, settings, scheduled, webhook_receiver
):
    assert _scheduled_run(session_factory, settings, scheduled, "schedule") == "held"
    assert _scheduled_run(session_factory, settings, scheduled, "schedule") == "held"

    (hook,) = [r["json"] for r in webhook_receiver.received]
    assert hook["kind"] == "holds" and "held 1 change(s)" in hook["subject"]
    assert "billing-sync holds list msp" in hook["message"]


def test_a_month_close_with_open_holds_says_how_many_agreements_invoice_held(
    session_factory, settings, scheduled, webhook_receiver
):
    _scheduled_run(session_factory, settings, scheduled, "schedule")

    _scheduled_run(session_factory, settings, scheduled, "month_close", now=NOW)

    last = webhook_receiver.received[-1]["json"]
    assert "1 agreement(s) will invoice with a held change" in last["subject"]
    assert len(webhook_receiver.received) == 2


def test_metrics_gauge_counts_agreements_with_open_holds(session_factory, settings, scheduled):
    def held() -> float:
        families = health.gauges(session_factory, None, NOW, timedelta(hours=1))
        (family,) = [f for f in families if f.name == "billing_sync_agreements_held"]
        return family.samples[0].value

    assert held() == 0
    sync(session_factory, settings, scheduled)
    assert held() == 1


def test_a_run_a_person_or_the_api_started_alerts_once_on_new_holds(
    session_factory, settings, scheduled, webhook_receiver
):
    def started_by(trigger: str):
        pid = scheduled.partner_id
        handle = begin_run(session_factory, settings, pid, now=NOW, trigger=trigger)
        return carry_out(session_factory, settings, handle)

    assert started_by("manual").status == "held"
    assert started_by("api").status == "held"  # the same hold again: nothing new to say

    (hook,) = [r["json"] for r in webhook_receiver.received]
    assert hook["kind"] == "holds" and "held 1 change(s)" in hook["subject"]

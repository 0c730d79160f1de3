"""The invoice checklist alert: once a day per partner inside its window, exactly once."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from billing_sync.db import make_engine, make_session_factory
from billing_sync.models import ChecklistAlert, Company, MappingHealth, Partner
from billing_sync.queue.client import RunQueue
from billing_sync.scheduler import checklist_alert
from billing_sync.scheduler.jobs import Jobs
from billing_sync.scheduler.loop import run_scheduler, utc_now
from billing_sync.scheduler.service import set_alerts
from tests.scheduler.conftest import add_partner, map_companies, sim_state

TZ = "America/New_York"  # 28 November starts at 05:00 UTC
OUTSIDE = datetime(2026, 11, 28, 4, 59, tzinfo=UTC)  # still the 27th in New York
INSIDE = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)


@pytest.fixture
def partner(session_factory, settings, webhook_receiver) -> int:
    """Partner `msp` (New York) with three mapped companies; two invoice on 1 December."""
    now = datetime(2026, 11, 1, tzinfo=UTC)
    pid = add_partner(session_factory, settings, "msp", site=None, tz=TZ, now=now)
    map_companies(session_factory, sim_state(), pid, 3, now=now)
    with session_factory.begin() as session:
        set_alerts(
            session,
            session.get(Partner, pid),
            None,
            webhook_receiver.url,
            now=now,
            allow_private_hosts=True,
        )
        companies = session.scalars(
            select(Company).where(Company.partner_id == pid).order_by(Company.external_id)
        ).all()
        for company, invoice in zip(
            companies, (date(2026, 12, 1), date(2026, 12, 1), date(2027, 1, 1)), strict=True
        ):
            session.add(
                MappingHealth(
                    partner_id=pid,
                    company_id=company.id,
                    agreement_id=None,
                    level="green",
                    next_invoice_date=invoice,
                    checked_at=now,
                )
            )
    return pid


def alerts(factory, partner_id: int) -> list[date]:
    with factory() as session:
        return list(
            session.scalars(
                select(ChecklistAlert.day)
                .where(ChecklistAlert.partner_id == partner_id)
                .order_by(ChecklistAlert.day)
            )
        )


def test_alert_goes_out_once_a_local_day_inside_the_window(
    session_factory, settings, partner, webhook_receiver
):
    sent = []
    for instant in (
        OUTSIDE,
        INSIDE,
        datetime(2026, 11, 29, 4, 30, tzinfo=UTC),  # 23:30 on the 28th in New York: same day
        datetime(2026, 11, 29, 5, 0, tzinfo=UTC),  # the 29th
    ):
        with freeze_time(instant):
            checklist_alert.safe_send(session_factory, settings, utc_now)
        sent.append(len(webhook_receiver.received))

    assert sent == [0, 1, 1, 2]
    assert alerts(session_factory, partner) == [date(2026, 11, 28), date(2026, 11, 29)]
    hook = webhook_receiver.received[0]["json"]
    assert hook["kind"] == "invoice_checklist"
    assert hook["subject"] == "invoice checklist for msp: 2 agreement(s) invoice by 2026-12-01"
    assert hook["message"].startswith(
        "2 agreements invoice in the next 3 days; 2 of them have changes not yet written, "
        "0 have holds, 0 are red."
    )
    assert "- C0 (ext-0), agreement MSA 0, invoices 2026-12-01: pb-" in hook["message"]
    assert " - -> 3" in hook["message"]  # nothing written yet; 3 users now


def test_no_alert_when_no_agreement_invoices_or_the_checklist_is_off(
    session_factory, settings, partner, webhook_receiver
):
    with session_factory.begin() as session:
        session.get(Partner, partner).checklist_days = 0

    assert checklist_alert.send_checklist_alerts(session_factory, settings, INSIDE) == 0
    with session_factory.begin() as session:
        session.get(Partner, partner).checklist_days = 31
    # 31 days: open on 5 November too; 1 December is within reach, January is not.
    assert (
        checklist_alert.send_checklist_alerts(
            session_factory, settings, datetime(2026, 11, 5, 12, tzinfo=UTC)
        )
        == 1
    )
    with session_factory.begin() as session:
        session.get(Partner, partner).checklist_days = 1
    assert checklist_alert.send_checklist_alerts(session_factory, settings, INSIDE) == 0
    assert len(webhook_receiver.received) == 1


def test_two_schedulers_send_one_alert(session_factory, settings, partner, webhook_receiver):
    engines = [make_engine(settings.database_url) for _ in range(2)]
    factories = [make_session_factory(engine) for engine in engines]
    due = [checklist_alert.due_alerts(f(), INSIDE) for f in factories]  # both see it due

    claimed = [checklist_alert._claim(f, d[0], INSIDE) for f, d in zip(factories, due, strict=True)]
    results = []
    threads = [
        threading.Thread(
            target=lambda f=f: results.append(
                checklist_alert.send_checklist_alerts(f, settings, INSIDE)
            )
        )
        for f in factories
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    for engine in engines:
        engine.dispose()

    assert claimed == [True, False]
    assert results == [0, 0]  # today's row is there: neither sends again
    assert alerts(session_factory, partner) == [date(2026, 11, 28)]


def test_two_scheduler_threads_racing_send_one_alert(
    session_factory, settings, partner, webhook_receiver
):
    engines = [make_engine(settings.database_url) for _ in range(2)]
    results, start = [], threading.Barrier(2)

    def scheduler(engine) -> None:
        start.wait()
        results.append(
            checklist_alert.send_checklist_alerts(make_session_factory(engine), settings, INSIDE)
        )

    threads = [threading.Thread(target=scheduler, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    for engine in engines:
        engine.dispose()

    assert sorted(results) == [0, 1]
    assert len(webhook_receiver.received) == 1


def test_with_workers_the_scheduler_sends_it_itself_even_while_redis_is_away(
    session_factory, settings, partner, webhook_receiver
):
    fleet = replace(settings, redis_url="redis://127.0.0.1:1/0", scheduler_tick_seconds=0.05)
    jobs = Jobs(queue=RunQueue.from_settings(fleet))
    stop = threading.Event()
    thread = threading.Thread(
        target=run_scheduler,
        args=(fleet,),
        daemon=True,
        kwargs={"stop": stop, "clock": lambda: INSIDE, "session_factory": session_factory,
                "jobs": jobs},
    )  # fmt: skip
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not webhook_receiver.received and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(10)

    assert len(webhook_receiver.received) == 1
    assert alerts(session_factory, partner) == [date(2026, 11, 28)]

"""A run against a ConnectWise that pages forever ends: at the page cap, its deadline, or a stop."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import replace

from sqlalchemy import select

from billing_sync.models import RunItem
from billing_sync.sync import run_sync
from tests.security.hostile import NOW, add_partner, agreement_row, answer_json, endless_pages

COMPANIES = 6
SLACK = 0.7


def endless_additions(page_delay: float = 0.0):
    """Agreements answer at once; every agreement's additions page on without end."""
    pages = endless_pages()

    def answer(handler):
        if re.search(r"/finance/agreements/\d+/additions", handler.path):
            time.sleep(page_delay)
            pages(handler)
        else:
            rows = [agreement_row(100 + i, 10 + i) for i in range(COMPANIES)]
            answer_json(rows)(handler)

    return answer


def additions_requests(server) -> int:
    return sum("/additions" in p for p in server.api_requests())


def test_a_run_ends_at_the_page_cap_with_each_item_failed(hostile, settings, session_factory):
    server = hostile(endless_additions())
    partner_id = add_partner(session_factory, settings, "pager", server.site, companies=COMPANIES)

    report = run_sync(session_factory, settings, partner_id, now=NOW)

    assert report.status == "failed"
    assert len(report.items) == COMPANIES
    assert all("more than 50 pages" in item.error for item in report.items)
    assert additions_requests(server) == COMPANIES * 50
    with session_factory() as session:
        errors = session.scalars(select(RunItem.error).where(RunItem.run_id == report.run_id))
        assert all("GET /finance/agreements/" in error for error in errors)


def test_a_run_stops_at_its_deadline(hostile, settings, session_factory):
    server = hostile(endless_additions(page_delay=0.02))
    partner_id = add_partner(
        session_factory, settings, "slowpager", server.site, companies=COMPANIES
    )
    patient = replace(settings, cw_max_pages=10_000, run_deadline_seconds=1.0, sync_concurrency=2)

    started = time.monotonic()
    report = run_sync(session_factory, patient, partner_id, now=NOW)
    took = time.monotonic() - started

    assert report.status == "interrupted"
    assert "stopped at the run deadline (1 s, BILLING_SYNC_RUN_DEADLINE)" in report.message
    assert took < 1.0 + SLACK
    assert len(report.items) == 2  # the two agreements in flight; the rest wait for the next run
    assert all("the run is stopping" in item.error for item in report.items)
    print(f"run deadline 1 s: ended after {took:.2f} s, {additions_requests(server)} requests")


def test_a_run_stops_between_pages_when_asked(hostile, settings, session_factory):
    server = hostile(endless_additions(page_delay=0.02))
    partner_id = add_partner(session_factory, settings, "sigterm", server.site, companies=COMPANIES)
    patient = replace(settings, cw_max_pages=10_000)
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()  # SIGTERM, as the scheduler hands it on

    started = time.monotonic()
    report = run_sync(session_factory, patient, partner_id, now=NOW, stop=stop)
    took = time.monotonic() - started

    assert report.status == "interrupted"
    assert took < 0.5 + SLACK
    requests_at_end = additions_requests(server)
    time.sleep(0.2)
    assert additions_requests(server) == requests_at_end  # nothing kept paging behind our back

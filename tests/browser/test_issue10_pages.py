"""Issue 10 in a real browser: run failures shown, one time zone, honest forms, 390 px screens.

`BILLING_SYNC_SCREENSHOTS=before|after` also saves viewport-sized screenshots of the pages
under artifacts/screenshots/<set>-*.png (off by default, so a test run changes no file).
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime

import pytest

from billing_sync.catalog import get_product, map_product
from billing_sync.mappings import get_company, save_mapping
from billing_sync.models import Partner
from billing_sync.partner_connection import ConnectionForm, client_for, save_connection
from billing_sync.partners import set_integration
from billing_sync.sync import run_sync
from tests.browser.conftest import SCREENSHOTS, SIM_KEYS
from tests.browser.test_admin_flow import sign_in

pytestmark = pytest.mark.browser
SCREENSHOT_SET = os.environ.get("BILLING_SYNC_SCREENSHOTS", "")


def _expect():
    from playwright.sync_api import expect

    return expect


@pytest.fixture
def snap(page):
    """Save a viewport-sized screenshot when BILLING_SYNC_SCREENSHOTS names a set."""

    def take(name: str) -> None:
        if SCREENSHOT_SET:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / f"{SCREENSHOT_SET}-{name}.png"))

    return take


def _connect(session, settings, partner_id: int, site: str, private_key: str) -> None:
    form = ConnectionForm(
        site=site,
        company_id=SIM_KEYS["company_id"],
        public_key=SIM_KEYS["public_key"],
        private_key=private_key,
        client_id=SIM_KEYS["client_id"],
    )
    save_connection(session, settings, session.get(Partner, partner_id), form, now=_now())


def _now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def failed_after_success(settings, session_factory, seeded, simulator):
    """Both companies mapped and synced once; then a run that failed as a whole (bad key)."""
    with session_factory.begin() as session:
        _connect(session, settings, seeded, simulator.site, SIM_KEYS["private_key"])
        with client_for(session, settings, seeded) as client:
            item = next(i for i in client.catalog_items() if i.identifier == "PB-BUS")
            agreements = {
                a.name: a
                for a in client.agreements()
                if a.name in ("Acme Managed Services", "Bakery Gold")
            }
        map_product(session, seeded, get_product(session, "pb-business"), item, now=_now())
        for external_id, name in (("v-1", "Acme Managed Services"), ("v-2", "Bakery Gold")):
            agreement = agreements[name]
            company = get_company(session, seeded, external_id)
            save_mapping(
                session, company, agreement.company_id, agreement, matched_by="manual", now=_now()
            )
        set_integration(session.get(Partner, seeded), True)
    first = run_sync(session_factory, settings, seeded, now=_now(), trigger="manual")
    assert first.status == "succeeded", first.message
    with session_factory.begin() as session:
        _connect(session, settings, seeded, simulator.site, "a-wrong-private-key")
    failed = run_sync(session_factory, settings, seeded, now=_now(), trigger="schedule")
    assert failed.status == "failed", failed.status
    return first.run_id, failed.run_id


def test_screens_of_the_issue10_pages(page, live_app, failed_after_success, snap):
    """Dashboard, companies, connection, schedule, runs, run detail, 403, and 390 px."""
    expect = _expect()
    _first, failed_id = failed_after_success
    sign_in(page, live_app, "admin@acme.test")
    expect(page.get_by_role("heading", name="acme")).to_be_visible()
    snap("dashboard")
    page.goto(f"{live_app}/companies/")
    snap("companies")
    page.goto(f"{live_app}/connection/")
    snap("connection")
    page.goto(f"{live_app}/schedule/")
    snap("schedule")
    page.goto(f"{live_app}/runs/")
    snap("runs")
    page.goto(f"{live_app}/runs/{failed_id}")
    snap("run-detail")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_app}/companies/")
    snap("companies-390")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, live_app, "viewer@acme.test")
    page.goto(f"{live_app}/schedule/")
    snap("403")
    assert re.search(r"403", page.content())

"""Pre-flight health in a browser: Check now, then the companies list and the dashboard say it."""

from __future__ import annotations

import pytest

from tests.browser.test_admin_flow import _expect, nav
from tests.browser.test_sync_pages import _configured

pytestmark = pytest.mark.browser


def test_check_now_shows_red_with_its_reason_on_the_row_and_the_dashboard(
    page, live_app, simulator, shot
):
    expect = _expect()
    _configured(page, live_app, simulator, shot)
    state = simulator.state
    [agreement] = [a for a in state.records("agreements") if a["name"] == "Acme Managed Services"]
    with state.lock:
        state.table("agreements")[agreement["id"]]["billingCycle"] = {"id": 2, "name": "Quarterly"}
        state.table("catalog")[1]["inactiveFlag"] = True

    nav(page, "Companies")
    page.get_by_role("button", name="Check now").click()
    expect(page.get_by_role("heading", name="Preview", exact=True)).to_be_visible(timeout=30_000)
    nav(page, "Companies")

    row = page.get_by_role("row").filter(has_text="Acme Dental")
    expect(row.get_by_role("cell").filter(has_text="Red")).to_contain_text("is inactive")
    shot("health-company-row")
    nav(page, "Dashboard")
    summary = page.get_by_role("region", name="Pre-flight health")
    expect(summary).to_contain_text("0 green, 0 amber, 1 red")
    summary.get_by_role("link", name="1 red").click()
    expect(page.get_by_text("Showing red companies only")).to_be_visible()
    page.get_by_role("link", name="Edit Acme Dental").click()
    health = page.get_by_role("region", name="Pre-flight health")
    expect(health).to_contain_text("billing cycle is Quarterly")
    expect(health).to_contain_text("Next invoice")
    shot("health-company-page")

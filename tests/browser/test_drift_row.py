"""A hand edit in ConnectWise, seen in a browser: the drift policy set on the schedule page, the
change held, and the company row saying who changed what."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from billing_sync.sync import run_sync
from tests.browser.test_admin_flow import _expect, nav
from tests.browser.test_sync_pages import _configured

pytestmark = pytest.mark.browser


def test_a_hand_edit_shows_on_the_company_row_and_is_held_under_the_hold_policy(
    page, live_app, simulator, settings, session_factory, seeded, shot
):
    expect = _expect()
    _configured(page, live_app, simulator, shot)
    page.goto(f"{live_app}/schedule/")
    page.locator("#drift-hold").check()
    page.get_by_role("button", name="Save hold rules").click()
    expect(page.locator("#drift-hold")).to_be_checked()
    first = run_sync(session_factory, settings, seeded, now=datetime.now(UTC))
    assert first.status == "succeeded", first.items
    [addition] = simulator.state.additions(first.items[0].agreement_id)
    simulator.state.edit_addition(addition["id"], quantity=9, updated_by="jdoe")

    second = run_sync(session_factory, settings, seeded, now=datetime.now(UTC))

    assert second.status == "held" and second.items[0].action == "held"
    nav(page, "Companies")
    row = page.get_by_role("row").filter(has_text="Acme Dental")
    expect(row).to_contain_text("Changed by hand")
    expect(row).to_contain_text("jdoe")
    expect(row).to_contain_text("9")
    shot("drift-company-row")
    assert simulator.state.additions(first.items[0].agreement_id)[0]["quantity"] == 9.0

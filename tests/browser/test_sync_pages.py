"""Preview and Sync now in a browser: previews run in the background and say what they leave out."""

from __future__ import annotations

import pytest

from tests.browser.test_admin_flow import (
    _expect,
    connect_and_authenticate,
    map_product,
    nav,
    sign_in,
)

pytestmark = pytest.mark.browser


def _configured(page, live_app, simulator, shot) -> None:
    """Connected, product mapped, Acme Dental auto-matched; Bakery Bros (two agreements) is not."""
    expect = _expect()
    sign_in(page, live_app, "admin@acme.test")
    connect_and_authenticate(page, simulator.site, shot)
    map_product(page, shot)
    nav(page, "Companies")
    page.get_by_role("button", name="Auto-match all").click()
    expect(page.get_by_role("status").first).to_contain_text("Auto-match mapped 1 of 2")


def test_a_preview_runs_in_the_background_and_names_what_it_leaves_out(
    page, live_app, simulator, shot
):
    expect = _expect()
    _configured(page, live_app, simulator, shot)
    simulator.state.faults.latency_seconds = 0.4  # a slow ConnectWise: the page must not wait
    try:
        nav(page, "Preview & sync")
        page.get_by_role("button", name="Preview").click()
        expect(page.get_by_role("heading", name="Preview running")).to_be_visible(timeout=3_000)
        expect(page.locator("#run-progress")).to_be_visible()
        shot("16-preview-running")
        expect(page.get_by_role("heading", name="Preview", exact=True)).to_be_visible(
            timeout=30_000
        )
    finally:
        simulator.state.faults.latency_seconds = 0
    expect(page.get_by_text("1 to create")).to_be_visible()
    expect(page.get_by_role("heading", name="Warnings (1)")).to_be_visible()
    left_out = page.get_by_role("region", name="Left out (1)")
    expect(left_out).to_contain_text("Bakery Bros")
    shot("17-preview-done")


def test_sync_now_with_the_integration_off_is_an_error_not_a_green_start(
    page, live_app, simulator, shot
):
    expect = _expect()
    _configured(page, live_app, simulator, shot)
    nav(page, "Connection")
    page.get_by_role("button", name="Turn integration off").click()
    nav(page, "Preview & sync")
    page.get_by_role("button", name="Sync now").click()
    alert = page.locator(".flash.error")
    expect(alert).to_contain_text("integration is off, so no sync was started")
    expect(page.locator(".flash.success")).to_have_count(0)
    shot("18-sync-now-integration-off")

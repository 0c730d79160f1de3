"""Roll a run back from its page in a browser: preview, confirm, the rollback run; viewers can't."""

from __future__ import annotations

import re

import pytest

from tests.browser.test_admin_flow import (
    _expect,
    connect_and_authenticate,
    map_product,
    nav,
    sign_in,
    wait_for_run,
)

pytestmark = pytest.mark.browser


def _quantities(simulator) -> list[float]:
    state = simulator.state
    return [a["quantity"] for g in state.records("agreements") for a in state.additions(g["id"])]


def test_an_admin_rolls_a_run_back_after_a_preview_and_a_viewer_cannot(
    page, live_app, simulator, shot
):
    expect = _expect()
    sign_in(page, live_app, "admin@acme.test")
    connect_and_authenticate(page, simulator.site, shot)
    map_product(page, shot)
    nav(page, "Companies")
    page.get_by_role("button", name="Auto-match all").click()
    expect(page.get_by_role("status").first).to_contain_text("Auto-match mapped 1 of 2")
    nav(page, "Preview & sync")
    page.get_by_role("button", name="Sync now").click()
    wait_for_run(page)
    run_url = page.url
    run_id = re.search(r"/runs/(\d+)", run_url).group(1)
    assert _quantities(simulator) == [2]

    page.get_by_role("button", name="Roll back this run").click()
    expect(page.get_by_role("heading", name=f"Roll back run {run_id}")).to_be_visible()
    expect(page.get_by_text("1 to put back")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("the next run writes the counts again")).to_be_visible()
    expect(page.get_by_role("cell", name="2 → 0", exact=True)).to_be_visible()
    shot("rollback-01-confirm")
    assert _quantities(simulator) == [2]  # the preview wrote nothing

    page.get_by_role("button", name=f"Roll back run {run_id}").click()
    expect(page.locator(".flash.success")).to_contain_text(f"Rollback of run {run_id}")
    wait_for_run(page)
    expect(page.locator("#run-status")).to_contain_text(f"trigger rollback of run {run_id}")
    expect(page.get_by_role("cell", name="2 → 0", exact=True)).to_be_visible()
    shot("rollback-02-done")
    assert _quantities(simulator) == [0]

    page.context.clear_cookies()
    sign_in(page, live_app, "viewer@acme.test")
    page.goto(run_url)
    expect(page.get_by_role("heading", name=f"Run {run_id}")).to_be_visible()
    expect(page.get_by_role("button", name="Roll back this run")).to_have_count(0)

"""An admin configures and syncs in a real browser; a viewer only reads. Screenshots per page."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import PASSWORD, SIM_KEYS

pytestmark = pytest.mark.browser


def _expect():
    from playwright.sync_api import expect

    return expect


def sign_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def nav(page, name: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name).click()


def connect_and_authenticate(page, site: str, shot) -> None:
    expect = _expect()
    nav(page, "Connection")
    page.get_by_label("Site").fill(site)
    page.get_by_label("Company id").fill(SIM_KEYS["company_id"])
    page.get_by_label("Public key").fill(SIM_KEYS["public_key"])
    page.get_by_label("Private key").fill(SIM_KEYS["private_key"])
    page.get_by_label("Client id").fill(SIM_KEYS["client_id"])
    page.get_by_role("button", name="Save without checking").click()
    expect(page.get_by_role("status").first).to_contain_text("Connection saved")
    expect(page.get_by_text("Not checked since the last change")).to_be_visible()
    page.get_by_role("button", name="Authenticate and save").click()
    expect(page.get_by_role("status").first).to_contain_text("These credentials work")
    expect(page.get_by_text("Set, ending in 4c1d")).to_be_visible()
    expect(page.get_by_text("Not checked since the last change")).to_have_count(0)
    assert SIM_KEYS["private_key"] not in page.content()
    page.get_by_role("button", name="Turn integration on").click()
    expect(page.get_by_role("button", name="Turn integration off")).to_be_visible()
    shot("03-connection")


def map_product(page, shot) -> None:
    expect = _expect()
    nav(page, "Products")
    page.get_by_label("ConnectWise product for Password Boss Business").select_option(
        label="PB-BUS — Password Boss Business"
    )
    page.get_by_role("button", name="Save Password Boss Business").click()
    expect(page.get_by_role("status").first).to_contain_text("billed as PB-BUS")
    shot("04-products")


def match_companies(page, shot) -> None:
    expect = _expect()
    nav(page, "Companies")
    page.get_by_role("button", name="Auto-match all").click()
    expect(page.get_by_role("status").first).to_contain_text("Auto-match mapped 1 of 2")
    expect(page.get_by_role("link", name="Unmatched (1)")).to_be_visible()
    shot("05-companies-automatch")
    page.get_by_role("link", name="Edit Bakery Bros").click()
    # Auto-match left it a suggestion: the page opens with that ConnectWise company chosen.
    expect(page.get_by_text("(chosen)")).to_be_visible()
    page.get_by_label("Bakery Gold").check()
    shot("06-company-edit")
    page.get_by_role("button", name="Save mapping").click()
    expect(page.get_by_role("status").first).to_contain_text("billed on agreement Bakery Gold")
    page.get_by_role("link", name=re.compile(r"^Mapped")).click()
    expect(page.get_by_role("link", name="Mapped (2)")).to_be_visible()
    shot("07-companies-mapped")


def wait_for_run(page, status: str = "succeeded") -> None:
    _expect()(page.locator("#run-state")).to_have_text(status, timeout=30_000)


def preview_and_apply(page, shot) -> None:
    expect = _expect()
    nav(page, "Preview & sync")
    shot("08-sync")
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("heading", name="Preview")).to_be_visible()
    expect(page.get_by_text("2 to create")).to_be_visible()
    expect(page.get_by_role("cell", name="Bakery Gold")).to_be_visible()
    shot("09-preview")
    page.get_by_role("button", name="Apply").click()
    wait_for_run(page)
    expect(page.locator("#run-status")).to_contain_text("2 created")
    shot("10-run-applied")


def sync_now_and_open_run(page, shot) -> None:
    expect = _expect()
    nav(page, "Preview & sync")
    page.get_by_role("button", name="Sync now").click()
    expect(page.get_by_role("status").first).to_contain_text("Sync started")
    wait_for_run(page)
    expect(page.locator("#run-status")).to_contain_text("2 unchanged")
    nav(page, "Runs")
    shot("11-runs")
    page.get_by_role("link", name=re.compile(r"^Run \d+$")).last.click()  # oldest: the Apply
    page.get_by_label("Show").select_option("create")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("cell", name="Acme Dental")).to_be_visible()
    expect(page.get_by_role("cell", name="— → 2", exact=True)).to_have_count(2)
    shot("12-run-detail")


def test_admin_configures_previews_applies_and_syncs(page, live_app, simulator, shot):
    expect = _expect()
    page.goto(live_app)
    expect(page).to_have_url(re.compile(r"/login"))
    shot("01-login")
    sign_in(page, live_app, "admin@acme.test")
    expect(page.get_by_role("heading", name="acme")).to_be_visible()
    shot("02-dashboard-empty")
    connect_and_authenticate(page, simulator.site, shot)
    map_product(page, shot)
    match_companies(page, shot)
    preview_and_apply(page, shot)
    sync_now_and_open_run(page, shot)
    quantities = sorted(
        a["quantity"]
        for agreement in simulator.state.records("agreements")
        for a in simulator.state.additions(agreement["id"])
    )
    assert quantities == [2, 2]
    nav(page, "Usage")
    expect(page.get_by_role("img", name="Month-end users per product")).to_be_visible()
    shot("13-usage")
    nav(page, "Schedule")
    page.get_by_label("Frequency").select_option("weekly")
    page.get_by_label("Weekday (weekly runs only").select_option(label="fri")
    page.get_by_label("Time of day (HH:MM, 24-hour").fill("06:30")
    page.get_by_role("button", name="Save schedule").click()
    expect(page.get_by_role("status").first).to_contain_text("Schedule saved")
    shot("14-schedule")
    nav(page, "Dashboard")
    expect(page.get_by_role("link", name="2 mapped")).to_be_visible()
    expect(page.get_by_text("Next scheduled run: none")).to_have_count(0)
    shot("15-dashboard")


def test_viewer_reads_but_cannot_configure(page, live_app, shot):
    expect = _expect()
    sign_in(page, live_app, "viewer@acme.test")
    main_nav = page.get_by_role("navigation", name="Main")
    expect(main_nav.get_by_role("link", name="Runs")).to_be_visible()
    expect(main_nav.get_by_role("link", name="Connection")).to_have_count(0)
    expect(main_nav.get_by_role("link", name="Companies")).to_be_visible()  # status, read-only
    expect(main_nav.get_by_role("link", name="Preview & sync")).to_have_count(0)
    shot("20-viewer-dashboard")
    nav(page, "Usage")
    expect(page.get_by_role("link", name="Upload a seats CSV")).to_have_count(0)
    shot("21-viewer-usage")
    response = page.goto(f"{live_app}/connection/")
    assert response.status == 403
    expect(page.get_by_role("heading", name="403 · Not allowed")).to_be_visible()
    expect(
        page.get_by_text("This action needs an admin; you are signed in as a viewer.")
    ).to_be_visible()
    shot("22-viewer-forbidden")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

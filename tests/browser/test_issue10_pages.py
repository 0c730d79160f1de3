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
from billing_sync.models import Partner, Run
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
    page.goto(f"{live_app}/companies/")
    snap("viewer-companies")
    page.goto(f"{live_app}/schedule/")
    snap("403")
    assert re.search(r"403", page.content())


PAGES = (
    "/",
    "/companies/",
    "/connection/",
    "/schedule/",
    "/runs/",
    "/usage/",
    "/tokens/",
    "/sync/",
)


def test_a_failed_run_shows_on_the_dashboard_and_in_company_status(
    page, live_app, failed_after_success
):
    expect = _expect()
    _first, failed_id = failed_after_success
    sign_in(page, live_app, "admin@acme.test")
    problems = page.locator("section", has=page.get_by_role("heading", name="Items in error"))
    expect(problems).to_contain_text(f"The last run failed (run {failed_id},")
    expect(problems).to_contain_text("credentials refused")
    expect(problems).not_to_contain_text("None in the last run")
    page.goto(f"{live_app}/companies/")
    status = page.get_by_role("row", name=re.compile("Acme Dental")).get_by_role("cell").nth(4)
    expect(status).to_contain_text("Not synced: last run failed — GET /finance/agreements")
    expect(status).to_contain_text(
        re.compile(rf"Run {failed_id}, \d{{4}}-\d\d-\d\d \d\d:\d\d CES?T")
    )
    expect(page.get_by_text("OK", exact=True)).to_have_count(0)


def test_every_time_is_in_the_partners_zone_and_labelled(page, live_app, failed_after_success):
    expect = _expect()
    _first, failed_id = failed_after_success
    sign_in(page, live_app, "admin@acme.test")
    page.goto(f"{live_app}/runs/")
    expect(page.get_by_role("columnheader", name="Started (Europe/Amsterdam)")).to_be_visible()
    expect(page.get_by_role("cell", name=re.compile(r" CES?T$")).first).to_be_visible()
    expect(page.get_by_text(" UTC")).to_have_count(0)
    page.goto(f"{live_app}/runs/{failed_id}")
    expect(page.locator("#run-status")).to_contain_text(re.compile(r"started \S+ \S+ CES?T"))


def test_a_viewer_reads_company_status_without_actions_and_403_says_why(
    page, live_app, failed_after_success
):
    expect = _expect()
    sign_in(page, live_app, "viewer@acme.test")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Companies").click()
    expect(page.get_by_text("Not synced: last run failed").first).to_be_visible()
    expect(page.get_by_role("columnheader", name="Actions")).to_have_count(0)
    expect(page.get_by_role("button")).to_have_count(2)  # Search and Sign out, nothing else
    response = page.goto(f"{live_app}/schedule/")
    assert response.status == 403
    expect(
        page.get_by_text("This action needs an admin; you are signed in as a viewer.")
    ).to_be_visible()
    expect(page.get_by_text("read-protected")).to_have_count(0)


def _fill_connection(page, site: str, private_key: str) -> None:
    page.get_by_label("Site").fill(site)
    page.get_by_label("Company id").fill(SIM_KEYS["company_id"])
    page.get_by_label("Public key").fill(SIM_KEYS["public_key"])
    page.get_by_label("Private key").fill(private_key)
    page.get_by_label("Client id").fill(SIM_KEYS["client_id"])


def test_authenticate_checks_what_was_typed_and_advice_fits_the_failure(
    page, live_app, failed_after_success, simulator
):
    expect = _expect()
    sign_in(page, live_app, "admin@acme.test")
    page.goto(f"{live_app}/connection/")
    # The stored key is wrong (the failed run); the typed one is right: the typed one is checked.
    _fill_connection(page, simulator.site, SIM_KEYS["private_key"])
    page.get_by_role("button", name="Authenticate and save").click()
    expect(page.get_by_role("status").first).to_contain_text("These credentials work")
    expect(page.get_by_text("Connected to ConnectWise")).to_be_visible()
    assert SIM_KEYS["private_key"] not in page.content()
    # A wrong typed key: refused, nothing saved, the key not shown back.
    page.get_by_label("Private key").fill("typed-but-wrong")
    page.get_by_role("button", name="Authenticate and save").click()
    expect(page.get_by_role("alert")).to_contain_text("These credentials do not work")
    expect(page.get_by_label("Site")).to_have_value(simulator.site)
    expect(page.get_by_label("Private key")).to_have_value("")
    assert "typed-but-wrong" not in page.content()
    expect(page.get_by_text("Connected to ConnectWise")).to_be_visible()  # stored ones still work
    # https:// against a plain-http server: a TLS failure, with TLS advice.
    https_site = simulator.site.replace("http://", "https://")
    _fill_connection(page, https_site, SIM_KEYS["private_key"])
    page.get_by_role("button", name="Authenticate and save").click()
    expect(page.get_by_role("alert")).to_contain_text("could not be reached to check")
    expect(page.get_by_role("alert")).to_contain_text("TLS failed")
    expect(page.get_by_role("alert")).to_contain_text("certificate")
    expect(page.get_by_role("alert")).not_to_contain_text("did not answer in time")


def test_a_pasted_browser_url_is_trimmed_and_the_status_is_one(page, live_app, seeded, snap):
    expect = _expect()
    sign_in(page, live_app, "admin@acme.test")
    page.goto(f"{live_app}/connection/")
    _fill_connection(
        page,
        "127.0.0.1:8123/v4_6_release/services/system_io/Service/fv_sr100_request.rails?x=1",
        "some-private-key",
    )
    page.get_by_role("button", name="Save without checking").click()
    status = page.get_by_role("status").first
    expect(status).to_contain_text("The site was saved as https://127.0.0.1:8123")
    expect(status).to_contain_text("https:// was added in front of it")
    expect(status).to_contain_text("the browser path after the host (/v4_6_release/")
    expect(page.get_by_label("Site")).to_have_value("https://127.0.0.1:8123")
    expect(page.get_by_text("Not checked since the last change")).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Checked "))).to_have_count(0)


def test_the_schedule_form_says_what_it_does(page, live_app, failed_after_success):
    expect = _expect()
    sign_in(page, live_app, "admin@acme.test")
    page.goto(f"{live_app}/schedule/")
    at_time = page.get_by_label("Time of day (HH:MM, 24-hour")
    expect(at_time).to_have_attribute("type", "text")
    page.get_by_label("Frequency").select_option("daily")
    expect(page.get_by_label("Weekday (weekly runs only")).to_be_hidden()
    page.get_by_label("Frequency").select_option("weekly")
    expect(page.get_by_label("Weekday (weekly runs only")).to_be_visible()
    expect(page.get_by_text("The month-close run still runs at 00:15")).to_be_visible()
    at_time.fill("14:05")
    page.get_by_label("Time zone").fill("America/New_York")
    page.get_by_role("button", name="Save schedule").click()
    expect(page.get_by_role("alert")).to_contain_text("Tick the confirmation")
    expect(page.get_by_label("Time zone")).to_have_value("America/New_York")
    expect(at_time).to_have_value("14:05")
    page.get_by_label("I understand that a new zone moves").check()
    page.get_by_role("button", name="Save schedule").click()
    expect(page.get_by_role("status").first).to_contain_text("Schedule saved")
    expect(page.get_by_text(re.compile(r"Next run: .* 14:05 E[SD]T"))).to_be_visible()
    page.reload()  # after PRG a reload is a GET: no resubmission
    expect(page.get_by_role("alert")).to_have_count(0)


def test_a_running_run_says_items_are_coming(page, live_app, session_factory, seeded):
    expect = _expect()
    with session_factory.begin() as session:
        run = Run(
            partner_id=seeded,
            trigger="manual",
            dry_run=False,
            status="running",
            basis="month_end",
            started_at=_now(),
            total_items=4,
        )
        session.add(run)
        session.flush()
        run_id = run.id
    sign_in(page, live_app, "admin@acme.test")
    page.goto(f"{live_app}/runs/{run_id}")
    expect(page.get_by_text("Running — items appear as companies finish")).to_be_visible()
    expect(page.get_by_text("No items.")).to_have_count(0)


def test_no_page_asks_for_a_missing_file_and_the_skip_link_comes_first(page, live_app, seeded):
    expect = _expect()
    missing = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    sign_in(page, live_app, "admin@acme.test")
    for path in PAGES:
        page.goto(f"{live_app}{path}")
    assert missing == []
    page.goto(f"{live_app}/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    assert box is not None and box["y"] >= 0  # shown on focus
    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()


def test_a_rejected_csv_redirects_so_back_and_reload_post_nothing(page, live_app, seeded, tmp_path):
    expect = _expect()
    bad = tmp_path / "seats.csv"
    bad.write_text(
        "company_id,company_name,user_id,user_email,product,active_from,active_to\n"
        "c-9,Zeta Ltd,u1,u1@zeta.test,nope,yesterday,\n"
    )
    sign_in(page, live_app, "admin@acme.test")
    page.goto(f"{live_app}/usage/upload")
    page.get_by_label("CSV file").set_input_files(str(bad))
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("alert")).to_contain_text("nothing was imported")
    expect(page.get_by_role("cell", name="2", exact=True).first).to_be_visible()  # line 2
    assert page.url.endswith("/usage/upload")
    response = page.reload()
    assert response.request.method == "GET"  # no "Confirm Form Resubmission"
    expect(page.get_by_role("alert")).to_have_count(0)


def test_at_390_px_no_page_scrolls_sideways_and_company_actions_are_reachable(
    page, live_app, failed_after_success, snap
):
    expect = _expect()
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, live_app, "admin@acme.test")
    for path in PAGES:
        page.goto(f"{live_app}{path}")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (path, width)
    page.goto(f"{live_app}/companies/")
    snap("companies-390")
    # Each company is a stacked card: its Status and Actions sit on screen, no sideways scroll.
    acme = page.locator("tr", has_text="Acme Dental")
    for label in ("Status", "Actions"):
        cell = acme.locator(f'td[data-label="{label}"]')
        cell.scroll_into_view_if_needed()
        expect(cell).to_be_in_viewport()
        box = cell.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, (label, box)
    expect(acme.locator('td[data-label="Status"]')).to_contain_text("Not synced: last run failed")
    expect(page.get_by_role("button", name="Exclude Acme Dental")).to_be_in_viewport()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    snap("companies-390-status")

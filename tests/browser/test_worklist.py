"""The unmatched worklist in Chromium: bulk accept, accept a suggestion, pick from the drop-down,
exclude selected, choose an agreement, and the Problems tab after a failed run. Screenshots of
each page go to artifacts/screenshots/latest/after-*.png (viewport-sized, so they stay small);
with UPDATE_SCREENSHOTS=1 they replace the committed artifacts/screenshots/after-*.png."""

from __future__ import annotations

import os
import re
import time

import pytest

from billing_sync.models import Company
from tests.browser.conftest import SCREENSHOTS, SIM_KEYS
from tests.browser.test_admin_flow import (
    connect_and_authenticate,
    map_product,
    nav,
    sign_in,
    wait_for_run,
)

pytestmark = pytest.mark.browser
VENDOR = ["Contoso Ltd", "Northwind Trading", "Fabrikam", "Wingtip Toys"]


def _expect():
    from playwright.sync_api import expect

    return expect


def _after(page, name: str) -> None:
    # The committed screenshots change only when asked for; other runs write beside them.
    folder = SCREENSHOTS if os.environ.get("UPDATE_SCREENSHOTS") == "1" else SCREENSHOTS / "latest"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"after-{name}.png"))


def _flash(page):
    return page.get_by_role("status").first


@pytest.fixture
def worklist_simulator():
    """ConnectWise with the seeded customers and two the vendor spells differently."""
    from cw_simulator import Simulator, SimulatorState

    state = SimulatorState(**SIM_KEYS)
    dental = state.add_company(name="Acme Dental")
    state.add_agreement(company_id=dental["id"], name="Acme Managed Services")
    bakery = state.add_company(name="Bakery Bros")
    state.add_agreement(company_id=bakery["id"], name="Bakery Gold")
    state.add_agreement(company_id=bakery["id"], name="Bakery Silver")
    contoso = state.add_company(name="Contoso Limited")
    state.add_agreement(company_id=contoso["id"], name="Contoso Care")
    northwind = state.add_company(name="Northwind Traders")
    state.add_agreement(company_id=northwind["id"], name="Northwind Managed")
    state.add_catalog_item(identifier="PB-BUS", description="Password Boss Business")
    with Simulator(state) as sim:
        yield sim


@pytest.fixture
def more_companies(session_factory, seeded):
    with session_factory.begin() as session:
        for n, name in enumerate(VENDOR):
            session.add(Company(partner_id=seeded, external_id=f"w-{n}", name=name))


def test_admin_works_through_the_unmatched_worklist(
    page, live_app, worklist_simulator, more_companies
):
    expect = _expect()
    sim = worklist_simulator
    sign_in(page, live_app, "admin@acme.test")
    connect_and_authenticate(page, sim.site, lambda name: None)
    map_product(page, lambda name: None)
    nav(page, "Companies")
    page.get_by_role("link", name=re.compile(r"^Unmatched")).click()
    expect(page.get_by_text("No ConnectWise company list read yet")).to_be_visible()
    _after(page, "unmatched-before-refresh")

    page.get_by_role("button", name="Refresh suggestions").click()
    expect(_flash(page)).to_contain_text(
        "Read 4 ConnectWise companies: 4 unmatched have a suggestion"
    )
    expect(page.get_by_text("identical name").first).to_be_visible()
    expect(page.get_by_text(re.compile(r"similar name \(score \d+\)")).first).to_be_visible()
    _after(page, "unmatched-worklist")
    page.set_viewport_size({"width": 390, "height": 844})
    _after(page, "unmatched-390px")
    page.locator("table.worklist").scroll_into_view_if_needed()
    _after(page, "unmatched-390px-rows")
    page.set_viewport_size({"width": 1280, "height": 900})

    # bulk: Acme Dental is identical with one agreement; Bakery Bros has two, so it waits
    page.get_by_label("Accept all scoring at least").fill("90")
    page.get_by_role("button", name="Accept suggestions").click()
    expect(_flash(page)).to_contain_text("Mapped 1 company by suggestion (score 90 or more)")
    expect(_flash(page)).to_contain_text("1 with several active agreements (choose one)")
    expect(page.get_by_role("link", name="Mapped (1)")).to_be_visible()
    _after(page, "unmatched-bulk-accepted")

    # one click on a similar name's suggestion
    page.get_by_role("button", name="Accept Contoso Limited for Contoso Ltd").click()
    expect(_flash(page)).to_contain_text("Contoso Ltd is billed on agreement Contoso Care")

    # the searchable drop-down, filled from the cached list (mapped companies flagged)
    options = page.locator("#cw-options option")
    expect(options).to_have_count(4)
    expect(
        page.locator('#cw-options option[label*="already mapped to Acme Dental"]')
    ).to_have_count(1)
    picker = page.get_by_label("ConnectWise company for Wingtip Toys")
    value = page.eval_on_selector(
        "#cw-options", "l => [...l.options].map(o => o.value).find(v => v.startsWith('Northwind'))"
    )
    picker.fill(value)
    _after(page, "unmatched-drop-down")
    page.get_by_role("button", name="Map Wingtip Toys").click()
    expect(_flash(page)).to_contain_text("Wingtip Toys is billed on agreement Northwind Managed")

    # exclude selected
    page.get_by_label("Select Fabrikam").check()
    page.get_by_label("Select Northwind Trading").check()
    page.get_by_role("button", name="Exclude selected").click()
    expect(_flash(page)).to_contain_text("Excluded 2 companies from syncing")
    expect(page.get_by_role("link", name="Excluded (2)")).to_be_visible()

    # a company with two agreements: Accept opens the agreement choice, company pre-selected
    page.get_by_role("button", name="Accept Bakery Bros for Bakery Bros").click()
    expect(_flash(page)).to_contain_text("Bakery Bros has 2 active agreements")
    expect(page.get_by_text("(chosen)")).to_be_visible()
    _after(page, "edit-choose-agreement")
    page.get_by_label("Bakery Gold").check()
    page.get_by_role("button", name="Save mapping").click()
    expect(_flash(page)).to_contain_text("billed on agreement Bakery Gold")
    expect(page.get_by_role("link", name="Unmatched (0)")).to_be_visible()
    _after(page, "unmatched-done")

    # the edit page of a mapped company shows its current company and agreement
    page.get_by_role("link", name=re.compile(r"^Mapped")).click()
    _after(page, "mapped")
    page.get_by_role("link", name="Edit Contoso Ltd").click()
    expect(page.get_by_label("Contoso Care")).to_be_checked()
    _after(page, "edit-mapped")

    # search says which tab a company is on
    nav(page, "Companies")
    page.get_by_role("link", name=re.compile(r"^Unmatched")).click()
    page.get_by_label("Search companies").fill("fabrikam")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("link", name="1 on the Excluded tab")).to_be_visible()
    _after(page, "search-other-tab")
    page.get_by_role("link", name="1 on the Excluded tab").click()
    expect(page.get_by_role("button", name="Include Fabrikam")).to_be_visible()
    _after(page, "excluded")

    # a failed run: two additions carry the product on Acme Dental's agreement
    agreement = next(
        a for a in sim.state.records("agreements") if a["name"] == "Acme Managed Services"
    )
    product = next(c for c in sim.state.records("catalog") if c["identifier"] == "PB-BUS")
    sim.state.add_addition(agreement["id"], product["id"], quantity=1)
    sim.state.add_addition(agreement["id"], product["id"], quantity=1)
    nav(page, "Preview & sync")
    page.get_by_role("button", name="Sync now").click()
    wait_for_run(page, "partial")
    nav(page, "Companies")
    page.get_by_role("link", name="Problems (1)").click()
    expect(page.get_by_role("cell", name="Acme Dental", exact=True)).to_be_visible()
    expect(page.locator("p.bad")).to_contain_text("duplicate")
    expect(page.locator("p.help").first).to_be_visible()
    _after(page, "problems")

    page.set_viewport_size({"width": 390, "height": 844})
    _after(page, "problems-390px")


@pytest.fixture
def fifty_unmatched(session_factory, seeded, worklist_simulator):
    """Fifty vendor companies spelt a little differently from their ConnectWise companies."""
    state = worklist_simulator.state
    with session_factory.begin() as session:
        for n in range(50):
            cw = state.add_company(name=f"Harbour Clinic {n:02} Limited")
            state.add_agreement(company_id=cw["id"], name=f"Clinic {n:02} Care")
            session.add(
                Company(partner_id=seeded, external_id=f"h-{n}", name=f"Harbour Clinic {n:02} Ltd")
            )


def test_fifty_companies_map_by_suggestion_in_under_a_minute_of_clicks(
    page, live_app, worklist_simulator, fifty_unmatched
):
    expect = _expect()
    sign_in(page, live_app, "admin@acme.test")
    connect_and_authenticate(page, worklist_simulator.site, lambda name: None)
    page.goto(f"{live_app}/companies/?tab=unmatched&q=harbour")
    page.get_by_role("button", name="Refresh suggestions").click()
    expect(page.get_by_role("link", name="Unmatched (50)")).to_be_visible()
    start = time.monotonic()
    for left in range(49, -1, -1):
        page.get_by_role("button", name=re.compile(r"^Accept Harbour Clinic")).first.click()
        expect(page.get_by_role("link", name=f"Unmatched ({left})")).to_be_visible()
    elapsed = time.monotonic() - start
    expect(page.get_by_role("link", name="Unmatched (0)")).to_be_visible()
    expect(page.get_by_role("link", name="Mapped (50)")).to_be_visible()
    assert elapsed < 60, f"50 accepts took {elapsed:.1f} s"
    print(f"50 companies mapped by suggestion in {elapsed:.1f} s of clicks")

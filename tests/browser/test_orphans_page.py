"""The Orphans page in a browser: a leftover of an excluded company is set to 0, confirmed."""

from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from billing_sync import mappings, partners
from billing_sync.sync import run_sync
from cw_simulator import Simulator, SimulatorState
from tests.browser.conftest import PASSWORD
from tests.browser.test_admin_flow import _expect, nav, sign_in
from tests.sync.conftest import CLIENT_ID, NOW, PRIVATE_KEY, build_world
from web import create_app

pytestmark = pytest.mark.browser


@pytest.fixture
def leftovers(session_factory, settings):
    """Partner msp synced on the simulator, then ext-001 excluded: two additions left behind."""
    state = SimulatorState(
        company_id="acme", public_key="pub-key", private_key=PRIVATE_KEY, client_id=CLIENT_ID
    )
    with Simulator(state) as sim:
        world = build_world(session_factory, settings, sim, state, companies=2)
        assert run_sync(session_factory, settings, world.partner_id, now=NOW).status == "succeeded"
        with session_factory.begin() as session:
            company = mappings.get_company(session, world.partner_id, "ext-001")
            mappings.exclude_company(session, company, now=NOW)
            msp = partners.get_partner(session, "msp")
            partners.create_user(session, msp, "admin@msp.test", PASSWORD, now=NOW)
        yield world


@pytest.fixture
def served(settings, session_factory, leftovers):
    app = create_app(settings, session_factory=session_factory)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_an_admin_sets_a_leftover_to_zero_after_confirming(page, served, leftovers, shot):
    expect = _expect()
    left = min(leftovers.additions("ext-001"), key=lambda a: a["id"])
    sign_in(page, served, "admin@msp.test")
    nav(page, "Orphans")

    expect(
        page.get_by_role("heading", name="Left behind by a remap or exclusion (2)")
    ).to_be_visible()
    row = page.locator(f"#addition-{left['id']}")
    expect(row).to_contain_text("its company is excluded")
    shot("orphans-listed")
    row.get_by_text("Set to 0…").click()
    row.get_by_label(f"Bill 0 on addition {left['id']} from now on").check()
    row.get_by_role("button", name=f"Set addition {left['id']} to 0").click()

    expect(page.get_by_role("status").first).to_contain_text("is set to 0 in ConnectWise")
    expect(page.locator(f"#addition-{left['id']}")).to_contain_text("at 0")
    shot("orphans-set-to-zero")
    assert leftovers.state.get("additions", left["id"])["quantity"] == 0.0
    nav(page, "Runs")
    expect(page.get_by_role("cell", name="orphan")).to_be_visible()

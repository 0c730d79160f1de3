"""Browser fixtures: Debian's chromium via Playwright, the app served on loopback, a simulator."""

from __future__ import annotations

import io
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from billing_sync.catalog import add_product
from billing_sync.partners import create_partner, create_user
from billing_sync.usage import import_usage_csv
from web import create_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
PASSWORD = "correct horse battery"
SIM_KEYS = {
    "company_id": "training",
    "public_key": "pub-key",
    "private_key": "sim-private-key-4c1d",
    "client_id": "5f1e6a3c-0000-4000-8000-000000000001",
}
SEATS = """company_id,company_name,user_id,user_email,product,active_from,active_to
v-1,Acme Dental,u1,u1@acme.test,pb-business,2025-01-05T00:00:00Z,
v-1,Acme Dental,u2,u2@acme.test,pb-business,2025-03-05T00:00:00Z,
v-1,Acme Dental,u3,u3@acme.test,pb-business,2025-06-05T00:00:00Z,2025-09-01T00:00:00Z
v-2,Bakery Bros,u4,u4@bakery.test,pb-business,2025-02-05T00:00:00Z,
v-2,Bakery Bros,u5,u5@bakery.test,pb-business,2025-08-05T00:00:00Z,
"""


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is missing (scripts/setup installs it as root)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A fresh page; the test fails if Chromium reports a Content-Security-Policy violation."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    refused = []
    page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    yield page
    context.close()
    assert refused == [], refused


@pytest.fixture
def shot(page):
    """Save a full-page screenshot of the current page under artifacts/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> None:
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    return take


@pytest.fixture
def seeded(session_factory):
    """Partner acme with an admin and a viewer, one product, two companies with seats."""
    now = datetime.now(UTC)
    with session_factory.begin() as session:
        add_product(session, "pb-business", "Password Boss Business")
        partner = create_partner(session, "acme", timezone="Europe/Amsterdam", now=now)
        create_user(session, partner, "admin@acme.test", PASSWORD, role="admin", now=now)
        create_user(session, partner, "viewer@acme.test", PASSWORD, role="viewer", now=now)
        import_usage_csv(session, partner.id, io.StringIO(SEATS), now=now)
    return partner.id


@pytest.fixture
def live_app(settings, session_factory, seeded):
    """The app served by werkzeug on a free loopback port, in a thread."""
    app = create_app(settings, session_factory=session_factory)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    app.extensions["billing_sync"].runs.join(timeout=30)


@pytest.fixture
def simulator():
    from cw_simulator import Simulator, SimulatorState

    state = SimulatorState(**SIM_KEYS)
    dental = state.add_company(name="Acme Dental")
    state.add_agreement(company_id=dental["id"], name="Acme Managed Services")
    bakery = state.add_company(name="Bakery Bros")
    state.add_agreement(company_id=bakery["id"], name="Bakery Gold")
    state.add_agreement(company_id=bakery["id"], name="Bakery Silver")
    state.add_catalog_item(identifier="PB-BUS", description="Password Boss Business")
    state.add_catalog_item(identifier="BACKUP", description="Cloud Backup per user")
    with Simulator(state) as sim:
        yield sim

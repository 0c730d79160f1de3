"""Web fixtures: two partners with users, the app over the shared session factory, clients."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from billing_sync.catalog import add_product
from billing_sync.models import Company, CompanyMapping, Run, RunItem
from billing_sync.partners import create_partner, create_user
from web import create_app

NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
PASSWORD = "correct horse battery"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class World:
    """Ids of what the tests sign in as and poke at; `theirs_*` belong to the other partner."""

    partner_id: int
    company_id: int
    run_id: int
    theirs_partner_id: int
    theirs_company_id: int
    theirs_run_id: int


def _partner_with_rows(session, name: str, company_name: str) -> tuple[int, int, int]:
    partner = create_partner(session, name, timezone="Europe/Amsterdam", now=NOW)
    create_user(session, partner, f"admin@{name}.test", PASSWORD, role="admin", now=NOW)
    create_user(session, partner, f"viewer@{name}.test", PASSWORD, role="viewer", now=NOW)
    company = Company(partner_id=partner.id, external_id=f"{name}-1", name=company_name)
    session.add(company)
    session.flush()
    session.add(
        CompanyMapping(
            partner_id=partner.id,
            company_id=company.id,
            status="mapped",
            cw_company_id=7,
            cw_company_name=company_name,
            agreement_id=70,
            agreement_name="Managed",
            matched_by="manual",
            updated_at=NOW,
        )
    )
    run = Run(
        partner_id=partner.id,
        trigger="manual",
        dry_run=False,
        status="partial",
        basis="month_end",
        started_at=NOW,
        finished_at=NOW,
        errors=1,
    )
    session.add(run)
    session.flush()
    session.add(
        RunItem(
            run_id=run.id,
            partner_id=partner.id,
            company_id=company.id,
            agreement_id=70,
            action="error",
            state="failed",
            error="ambiguous additions 5, 6",
            advice="Cancel one of them",
            created_at=NOW,
        )
    )
    return partner.id, company.id, run.id


@pytest.fixture
def world(session_factory) -> World:
    with session_factory.begin() as session:
        add_product(session, "pb-business", "Password Boss Business")
        ours = _partner_with_rows(session, "acme", "Acme Dental")
        theirs = _partner_with_rows(session, "globex", "Globex Secret Customer")
    return World(*ours, *theirs)


@pytest.fixture
def app(settings, session_factory, world):
    app = create_app(settings, session_factory=session_factory)
    app.config.update(TESTING=True, WTF_CSRF_ENABLED=False)
    app.extensions["billing_sync"].clock = lambda: NOW
    yield app
    app.extensions["billing_sync"].runs.join(timeout=30)


def login(client, email: str, password: str = PASSWORD):
    """Sign in through the form (CSRF token read from the page when CSRF is on)."""
    page = client.get("/login").get_data(as_text=True)
    token = CSRF_INPUT.search(page)
    data = {"email": email, "password": password}
    if token:
        data["csrf_token"] = token.group(1)
    return client.post("/login", data=data)


@pytest.fixture
def admin(app):
    client = app.test_client()
    assert login(client, "admin@acme.test").status_code == 302
    return client


@pytest.fixture
def viewer(app):
    client = app.test_client()
    assert login(client, "viewer@acme.test").status_code == 302
    return client


SIM_KEYS = {
    "company_id": "training",
    "public_key": "pub-key",
    "private_key": "sim-private-key-4c1d",
    "client_id": "5f1e6a3c-0000-4000-8000-000000000001",
}


@pytest.fixture
def sim_state():
    """A ConnectWise with two customers (one ambiguous by agreements) and two catalog items."""
    from cw_simulator import SimulatorState

    state = SimulatorState(**SIM_KEYS)
    dental = state.add_company(name="Acme Dental")
    state.add_agreement(company_id=dental["id"], name="Acme Managed Services")
    bakery = state.add_company(name="Bakery Bros")
    state.add_agreement(company_id=bakery["id"], name="Bakery Gold")
    state.add_agreement(company_id=bakery["id"], name="Bakery Silver")
    state.add_agreement(
        company_id=bakery["id"], name="Bakery Old", status="Cancelled", cancelled=True
    )
    state.add_catalog_item(identifier="PB-BUS", description="Password Boss Business")
    state.add_catalog_item(identifier="OLD", description="Retired", inactive=True)
    return state


@pytest.fixture
def simulator(sim_state):
    from cw_simulator import Simulator

    with Simulator(sim_state) as sim:
        yield sim


def connect(client, site: str, **overrides):
    """Save the connection through the page."""
    form = {"site": site, **SIM_KEYS, **overrides}
    return client.post("/connection/", data=form)

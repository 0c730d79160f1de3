"""The client against the real simulator: discovery, pages, writes, lost POSTs, bad keys."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest

from billing_sync.connectwise import errors
from billing_sync.connectwise.client import ConnectWiseClient, Credentials
from cw_simulator import Simulator, SimulatorState
from tests.support.cw_openapi import check_request

JAN_15 = datetime(2026, 1, 15, tzinfo=UTC)
FEB_1 = datetime(2026, 2, 1, tzinfo=UTC)


@pytest.fixture
def state() -> SimulatorState:
    state = SimulatorState(
        company_id="acme",
        public_key="pub",
        private_key="priv",
        client_id="guid-1",
        codebase="v2025_1/",
    )
    acme = state.add_company(name="Acme Corp")
    state.add_company(name="Acme Old", deleted=True)
    state.add_agreement(company_id=acme["id"], name="Acme MSA")
    state.add_catalog_item(identifier="PB-BUS", description="Password Boss Business")
    state.add_catalog_item(identifier="OLD", description="Retired", inactive=True)
    state.add_addition(agreement_id=1, product_id=1, quantity=5)
    state.add_addition(
        agreement_id=1, product_id=1, quantity=2, cancelled_date="2026-01-01T00:00:00Z"
    )
    return state


@pytest.fixture
def sim(state):
    with Simulator(state) as sim:
        yield sim
    for entry in state.log:  # every request the client sent must be one the spec allows
        if "/apis/3.0/" in entry.path and entry.status != 401:
            query = urlencode([(k, v) for k, vs in entry.query.items() for v in vs])
            check_request(entry.method, f"http://sim{entry.path}?{query}", entry.body)


def connect(sim: Simulator, **overrides) -> ConnectWiseClient:
    credentials = Credentials(
        site=sim.site, company_id="acme", public_key="pub", private_key="priv", client_id="guid-1"
    )
    return ConnectWiseClient(
        replace(credentials, **overrides),
        allow_private_hosts=True,
        timeout=5,
        max_retries=2,
        backoff_factor=0,
    )


def test_reads_and_writes_against_the_simulator(sim, state):
    with connect(sim) as client:
        assert client.system_info().version
        assert client.codebase == "v2025_1/"
        assert [c.name for c in client.search_companies("acme")] == ["Acme Corp"]
        assert [a.name for a in client.company_agreements(1)] == ["Acme MSA"]
        assert list(client.agreements_by_ids([1, 999])) == [1]
        assert [i.identifier for i in client.catalog_items()] == ["PB-BUS"]
        assert [a.quantity for a in client.agreement_additions(1, active_at=JAN_15)] == [5.0]
        created = client.create_addition(
            1, product_id=1, quantity=7, effective_date=FEB_1, description="PB users"
        )
        updated = client.set_addition_quantity(1, created.id, 9)
        assert (updated.id, updated.quantity) == (created.id, 9.0)
        active = client.agreement_additions(1, active_at=JAN_15)
        assert sorted(a.quantity for a in active) == [5.0, 9.0]


def test_every_page_is_fetched(sim, state):
    for n in range(2300):
        state.add_company(name=f"Bulk {n:04d}")
    with connect(sim) as client:
        state.clear_log()
        companies = list(client.companies())
    assert len(companies) == 2302
    assert len({c.id for c in companies}) == 2302
    assert [e.method for e in state.log if e.path.endswith("/company/companies")] == ["GET"] * 3


def test_a_lost_post_response_is_write_outcome_unknown_and_sent_once(sim, state):
    state.faults.lose_next_posts = 1
    with connect(sim) as client, pytest.raises(errors.WriteOutcomeUnknown):
        client.create_addition(
            1, product_id=1, quantity=3, effective_date=FEB_1, description="PB users"
        )
    assert [e.method for e in state.log].count("POST") == 1
    assert len(state.additions(1)) == 3  # it was created: the caller must re-read, not re-post


def test_rate_limiting_is_retried_then_reported(sim, state):
    state.faults.retry_after_seconds = 0
    state.faults.rate_limit_probability = 1.0
    with connect(sim) as client, pytest.raises(errors.RateLimited):
        client.agreement_additions(1, active_at=JAN_15)
    api_gets = [e for e in state.log if e.path.endswith("/additions")]
    assert [e.status for e in api_gets] == [429, 429, 429]


@pytest.mark.parametrize("field", ["private_key", "public_key", "client_id"])
def test_bad_credentials_are_an_authentication_error(sim, field):
    with connect(sim, **{field: "wrong"}) as client, pytest.raises(errors.AuthenticationError):
        client.system_info()


def test_an_unknown_company_id_is_an_invalid_site(sim):
    with (
        connect(sim, company_id="nobody") as client,
        pytest.raises(errors.InvalidSite, match="unknown company"),
    ):
        client.system_info()


def test_catalog_item_reads_one_product_by_id_and_404s_for_a_missing_one(sim, state):
    item = state.add_catalog_item(identifier="PB-ONE", description="One product")

    with connect(sim) as client:
        found = client.catalog_item(item["id"])
        with pytest.raises(errors.NotFound):
            client.catalog_item(99999)

    assert (found.id, found.identifier, found.inactive) == (item["id"], "PB-ONE", False)

"""Fixtures: a seeded SimulatorState, a running Simulator, and an authenticated API caller."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from cw_simulator import Simulator, SimulatorState
from tests.support.cw_openapi import check_request, check_response

CLIENT_ID = "5f1e6a3c-0000-4000-8000-000000000001"


@pytest.fixture
def state() -> SimulatorState:
    """Two companies, three agreements, three catalog items, three additions."""
    state = SimulatorState(
        company_id="training", public_key="pubkey", private_key="privkey",
        client_id=CLIENT_ID, codebase="v4_6_release/",
    )  # fmt: skip
    acme = state.add_company(name="Acme Corp")
    globex = state.add_company(name="Globex", identifier="GLOBEX", status="Inactive")
    state.add_agreement(company_id=acme["id"], name="Acme MSA")
    state.add_agreement(company_id=globex["id"], name="Globex MSA", type_name="Block Time")
    state.add_agreement(company_id=globex["id"], name="Old", status="Cancelled", cancelled=True)
    bus = state.add_catalog_item(identifier="PB-BUS", description="Password Boss Business")
    pro = state.add_catalog_item(identifier="PB-PRO", description="Password Boss Pro", price=3)
    state.add_catalog_item(identifier="OLD", description="Retired", inactive=True)
    state.add_addition(agreement_id=1, product_id=bus["id"], quantity=5,
                       effective_date="2026-01-01T00:00:00Z")  # fmt: skip
    state.add_addition(agreement_id=1, product_id=pro["id"], quantity=2,
                       cancelled_date="2025-12-31T00:00:00Z")  # fmt: skip
    state.add_addition(agreement_id=2, product_id=bus["id"], quantity=9)
    return state


@pytest.fixture
def simulator(state):
    with Simulator(state) as sim:
        yield sim


class Api:
    """An authenticated session that checks every request and response against the spec."""

    def __init__(self, simulator: Simulator) -> None:
        self.base = simulator.api_url
        self.session = requests.Session()
        self.session.auth = ("training+pubkey", "privkey")
        self.session.headers.update(
            {
                "clientId": CLIENT_ID,
                "Accept": "application/vnd.connectwise.com+json; version=2025.8",
            }
        )

    def __call__(
        self, method: str, path: str, *, spec_request: bool = True, **kwargs: Any
    ) -> requests.Response:
        url = path if path.startswith("http") else self.base + path
        response = self.session.request(method, url, timeout=5, **kwargs)
        if spec_request:
            check_request(method, response.request.url, kwargs.get("json"))
        check_response(method, response.request.url, response.status_code, body_of(response))
        return response


def body_of(response: requests.Response) -> Any:
    """The JSON body, or None when there is none."""
    return response.json() if response.content else None


@pytest.fixture
def api(simulator) -> Api:
    return Api(simulator)

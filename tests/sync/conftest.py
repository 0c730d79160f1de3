"""A seeded world for sync tests: a simulator with companies and agreements, a mapped partner."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import pytest

from billing_sync import catalog, guard_rules, mappings, partner_connection, partners
from billing_sync.connectwise.records import Agreement
from billing_sync.models import Company, Seat
from billing_sync.sync.writes import WriteTiming
from cw_simulator import Simulator, SimulatorState
from tests.conftest import TEST_SECRET
from tests.support.cw_openapi import check_request

CLIENT_ID = "5f1e6a3c-0000-4000-8000-000000000001"
PRIVATE_KEY = "sim-private-key-7f3e"
NOW = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)  # the 2026-10 period is closed
SEATS_FROM = datetime(2026, 8, 1, tzinfo=UTC)


@dataclass
class World:
    """What a test needs to drive and inspect one partner's sync."""

    partner_id: int
    state: SimulatorState
    products: dict[str, int]  # vendor code -> product id
    catalog: dict[str, int]  # vendor code -> CW catalog item id
    agreements: dict[str, int] = field(default_factory=dict)  # external id -> agreement id
    companies: dict[str, int] = field(default_factory=dict)  # external id -> company id

    def additions(self, external_id: str, *, active_only: bool = True) -> list[dict]:
        """The simulator's additions on a company's agreement."""
        found = self.state.additions(self.agreements[external_id], include_cancelled=True)
        return [a for a in found if not active_only or "cancelledDate" not in a]

    def quantities(self) -> dict[tuple[str, int], float]:
        """(external id, CW product id) -> quantity of every active addition; duplicates fail."""
        result = {}
        for external_id in self.agreements:
            for addition in self.additions(external_id):
                key = (external_id, addition["product"]["id"])
                assert key not in result, f"duplicate addition for {key}"
                result[key] = addition["quantity"]
        return result


@pytest.fixture
def fast_settings(settings):
    """Short ConnectWise timeouts and no settle margin, so unanswered writes settle in seconds."""
    return replace(settings, cw_timeout_seconds=0.5, settle_margin_seconds=0.0)


def wait_to_settle(settings) -> None:
    """Sleep until writes sent now may be settled by another run."""
    timing = WriteTiming.from_settings(settings.cw_timeout_seconds, settings.settle_margin_seconds)
    time.sleep(timing.settle_after + 0.1)


@pytest.fixture
def cw_state() -> SimulatorState:
    return SimulatorState(
        company_id="acme", public_key="pub-key", private_key=PRIVATE_KEY, client_id=CLIENT_ID
    )


@pytest.fixture
def cw(cw_state):
    """A running simulator; afterwards every request sent must fit the OpenAPI subset."""
    with Simulator(cw_state) as sim:
        yield sim
    for entry in cw_state.log:
        assert entry.method != "DELETE", "billing-sync must never DELETE"
        if "/apis/3.0/" in entry.path:
            query = "&".join(f"{k}={v}" for k, vs in entry.query.items() for v in vs)
            check_request(
                entry.method, f"{entry.path}?{query}" if query else entry.path, entry.body
            )


def add_seats(
    session,
    partner_id: int,
    company_id: int,
    product_id: int,
    users: int,
    *,
    prefix: str = "u",
    start: datetime = SEATS_FROM,
    end: datetime | None = None,
):
    """Give a company `users` seats of a product over [start, end)."""
    for n in range(users):
        session.add(
            Seat(
                partner_id=partner_id,
                company_id=company_id,
                product_id=product_id,
                user_external_id=f"{prefix}{n}",
                user_email=f"{prefix}{n}@example.com",
                active_from=start,
                active_to=end,
                updated_at=start,
            )
        )


# Hold rules that never trip, for tests of other rules with counts the defaults would hold.
NO_HOLDS = {
    "rise_users": 10_000_000,
    "fall_users": 10_000_000,
    "hold_zero": False,
    "first_run_total": 10_000_000,
}


def build_world(
    factory,
    settings,
    sim,
    state: SimulatorState,
    *,
    companies: int = 4,
    seats=lambda i: (i + 1, i),
    rules: dict | None = None,
) -> World:
    """Partner `msp` on the simulator: two mapped products, mapped companies with seats.

    `rules` sets the partner's hold rules (guard_rules.save_rules); None keeps the defaults.
    """
    with factory.begin() as session:
        partner = partners.create_partner(session, "msp", now=NOW)
        partners.set_integration(partner, True)
        if rules is not None:
            session.flush()
            guard_rules.save_rules(session, partner.id, None, rules, now=NOW)
        form = partner_connection.ConnectionForm(
            sim.site, "acme", "pub-key", PRIVATE_KEY, CLIENT_ID
        )
        partner_connection.save_connection(session, settings, partner, form, now=NOW)
        world = World(partner.id, state, {}, {})
        for code, ident in (("pb-business", "PB-BUS"), ("pb-premium", "PB-PREM")):
            product = catalog.add_product(session, code, f"Password Boss {ident}")
            item = state.add_catalog_item(identifier=ident, description=f"{ident} per user")
            catalog.map_product(session, partner.id, product, _catalog(item), now=NOW)
            world.products[code] = product.id
            world.catalog[code] = item["id"]
        for i in range(companies):
            _add_company(session, world, state, i, seats(i))
    return world


def _catalog(item: dict):
    from billing_sync.connectwise.records import CatalogItem

    return CatalogItem(item["id"], item["identifier"], item["description"], False)


def _add_company(session, world: World, state: SimulatorState, i: int, seats: tuple[int, int]):
    external = f"ext-{i:03d}"
    cw_company = state.add_company(name=f"Customer {i:03d}")
    agreement = state.add_agreement(company_id=cw_company["id"], name=f"MSA {i:03d}")
    company = Company(partner_id=world.partner_id, external_id=external, name=f"Customer {i:03d}")
    session.add(company)
    session.flush()
    mappings.save_mapping(
        session, company, cw_company["id"], _agreement(agreement), matched_by="manual", now=NOW
    )
    for code, users in zip(("pb-business", "pb-premium"), seats, strict=True):
        add_seats(session, world.partner_id, company.id, world.products[code], users)
    world.agreements[external] = agreement["id"]
    world.companies[external] = company.id


def _agreement(record: dict) -> Agreement:
    return Agreement(
        record["id"],
        record["name"],
        record["company"]["id"],
        record["company"].get("name"),
        "Active",
        False,
        None,
        True,
        None,
    )


@pytest.fixture
def world(session_factory, settings, cw, cw_state) -> World:
    return build_world(session_factory, settings, cw, cw_state)


def expected_quantities(world: World, seats=lambda i: (i + 1, i)) -> dict[tuple[str, int], float]:
    """What ConnectWise must hold for the default seat pattern (zero counts create nothing)."""
    expected = {}
    for i, external in enumerate(sorted(world.agreements)):
        for code, users in zip(("pb-business", "pb-premium"), seats(i), strict=True):
            if users:
                expected[(external, world.catalog[code])] = float(users)
    return expected


def cli_runner(settings, *command: str):
    """Run `billing-sync <command> ARGS...` as a real process on the test's database."""
    env = {
        **os.environ,
        "BILLING_SYNC_DATABASE_URL": settings.database_url,
        "BILLING_SYNC_SECRET_KEY": TEST_SECRET,
        "BILLING_SYNC_ALLOW_PRIVATE_HOSTS": "1",
    }

    def run(*args: str) -> subprocess.CompletedProcess:
        argv = [sys.executable, "-m", "billing_sync.cli", *command, *args]
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)

    return run

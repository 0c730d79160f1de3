"""The seeded demo: a simulated ConnectWise, a partner with ~25 customers, a preview and a sync."""

from __future__ import annotations

import io
import os
import random
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from billing_sync import catalog, holds, mappings, partner_connection, partners
from billing_sync.db import init_db, make_engine, make_session_factory
from billing_sync.settings import Settings
from billing_sync.sync import run_sync
from billing_sync.sync.report import format_report
from billing_sync.usage import UsageRow, import_usage_csv, write_usage_csv
from cw_simulator import Simulator, SimulatorState

CLIENT_ID = "5f1e6a3c-0000-4000-8000-000000000de0"
CUSTOMERS = [
    "Acme Dental Group",
    "Birchwood Legal LLP",
    "Cobalt Logistics",
    "Dunmore Family Practice",
    "Evergreen Accounting",
    "Fairview Realty",
    "Granite Ridge Construction",
    "Harbor Insurance",
    "Ironclad Security Services",
    "Juniper Veterinary Clinic",
    "Keystone Credit Union",
    "Lakeside Schools Foundation",
    "Maple Street Bakery",
    "Northwind Traders",
    "Oakridge Orthopedics",
    "Pinnacle Engineering",
    "Quarry Lane Architects",
    "Riverbend Hotel",
    "Summit Physical Therapy",
    "Tidewater Marine",
    "Union Square Dental",
    "Vantage Point Marketing",
    "Westfield Pharmacy",
    "Yellowstone Outfitters",
    "Zephyr Wind Energy",
]
PRODUCTS = (
    ("pb-business", "Password Boss Business", "PB-BUS"),
    ("pb-premium", "Password Boss Premium", "PB-PREM"),
)
ADMIN = "admin@demo-msp.example"


@dataclass(frozen=True)
class DemoWorld:
    """Where the demo's pieces live."""

    settings: Settings
    simulator: Simulator
    partner_id: int
    password: str


def seed_simulator(state: SimulatorState) -> dict[str, int]:
    """ConnectWise side: one company and agreement per customer, with a few realistic snags."""
    for _code, _name, ident in PRODUCTS:
        state.add_catalog_item(identifier=ident, description=f"{ident} per-user licence")
    state.add_catalog_item(identifier="LEGACY-AV", description="Retired antivirus", inactive=True)
    agreements = {}
    for index, name in enumerate(CUSTOMERS):
        company = state.add_company(name=name if index != 13 else "Northwind  TRADERS")
        agreements[name] = state.add_agreement(company_id=company["id"], name=f"{name} MSA")["id"]
        if index == 4:  # two active agreements: auto-match leaves it for an admin
            state.add_agreement(company_id=company["id"], name=f"{name} Projects")
    # Already billed by hand last month: adopted, not duplicated.
    state.add_addition(agreement_id=agreements[CUSTOMERS[0]], product_id=1, quantity=11)
    return agreements


def usage_rows(now: datetime, rng: random.Random) -> list[UsageRow]:
    """Fourteen months of seats: users join, some leave, a few come back."""
    rows = []
    for index, name in enumerate(CUSTOMERS):
        for code, _name, _ident in PRODUCTS:
            users = rng.randint(3, 40) if code == "pb-business" else rng.choice([0, 0, 2, 5, 9])
            for n in range(users):
                start = now - timedelta(days=rng.randint(20, 420))
                end = start + timedelta(days=rng.randint(30, 300)) if rng.random() < 0.2 else None
                user = f"u{index:02d}{n:03d}"
                email = f"user{n}@{name.split()[0].lower()}.example"
                rows.append(UsageRow(f"C{1000 + index}", name, user, email, code, start, end))
                if end is not None and rng.random() < 0.3:  # re-activated later
                    rows.append(
                        UsageRow(
                            f"C{1000 + index}",
                            name,
                            user,
                            email,
                            code,
                            end + timedelta(days=10),
                            None,
                        )
                    )
    return rows


def demo_settings(base: Settings) -> Settings:
    """The demo's own SQLite file and a generated secret unless one is set."""
    instance = base.instance_path / "demo"
    instance.mkdir(parents=True, exist_ok=True)
    database = instance / "billing-sync-demo.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    secret = base.secret_key or secrets.token_urlsafe(32)
    return Settings(
        **{
            **base.__dict__,
            "database_url": f"sqlite:///{database}",
            "secret_key": secret,
            "allow_private_hosts": True,
            "instance_path": instance,
        }
    )


def seed_partner(factory, settings: Settings, site: str, now: datetime) -> tuple[int, str]:
    """Billing-sync side: partner, login, connection, products, usage, company mappings."""
    password = secrets.token_urlsafe(9)
    with factory.begin() as session:
        partner = partners.create_partner(session, "demo-msp", timezone="America/New_York", now=now)
        partners.create_user(session, partner, ADMIN, password, now=now)
        partners.create_user(
            session, partner, "finance@demo-msp.example", password, role="viewer", now=now
        )
        form = partner_connection.ConnectionForm(
            site, "demo", "demo-public", "demo-private-key-9c1d", CLIENT_ID
        )
        partner_connection.save_connection(session, settings, partner, form, now=now)
        partner_connection.authenticate(session, settings, partner.id, now=now)
        partners.set_integration(partner, True)
        with partner_connection.client_for(session, settings, partner.id) as client:
            items = {i.identifier: i for i in client.catalog_items()}
            for code, name, ident in PRODUCTS:
                product = catalog.add_product(session, code, name)
                catalog.map_product(session, partner.id, product, items[ident], now=now)
            buffer = io.StringIO()
            write_usage_csv(usage_rows(now, random.Random(7)), buffer)
            buffer.seek(0)
            import_usage_csv(session, partner.id, buffer, now=now)
            mappings.automatch(session, partner.id, client, now=now)
        mappings.exclude_company(
            session, mappings.get_company(session, partner.id, "C1023"), now=now
        )
        return partner.id, password


def _approve_holds(factory, settings: Settings, partner_id: int) -> None:
    """Big new additions wait for a person (hold rules); the demo's admin approves them all."""
    with factory.begin() as session:
        approved = holds.decide(
            session, partner_id, None, "approved", by=ADMIN, now=datetime.now(UTC)
        )
    click.secho(
        f"\nHolds: {len(approved)} big changes waited for approval (the Holds page); "
        "approving them all, the approval run writes them",
        bold=True,
    )
    report = run_sync(factory, settings, partner_id, now=datetime.now(UTC), trigger="approval")
    click.echo(format_report(report, dry_run=False))


def run_demo(*, port: int = 8000, serve: bool = True) -> None:
    """Build the demo world, show a preview and a sync, then serve the web app."""
    settings = demo_settings(Settings.from_env())
    state = SimulatorState(
        company_id="demo",
        public_key="demo-public",
        private_key="demo-private-key-9c1d",
        client_id=CLIENT_ID,
    )
    seed_simulator(state)
    simulator = Simulator(state).start()
    engine = make_engine(settings.database_url)
    init_db(engine)
    factory = make_session_factory(engine)
    now = datetime.now(UTC)
    partner_id, password = seed_partner(factory, settings, simulator.site, now)
    click.echo(f"ConnectWise simulator on {simulator.site}; database {settings.database_url}\n")

    click.secho("Preview (dry run): what a sync would change", bold=True)
    click.echo(
        format_report(
            run_sync(factory, settings, partner_id, now=now, dry_run=True, trigger="manual"),
            dry_run=True,
        )
    )
    click.secho("\nSync: the same plan, applied", bold=True)
    synced = run_sync(factory, settings, partner_id, now=now, trigger="cli")
    click.echo(format_report(synced, dry_run=False))
    if synced.status == "held":
        _approve_holds(factory, settings, partner_id)
    click.secho("\nSync again: nothing left to change", bold=True)
    again = run_sync(factory, settings, partner_id, now=datetime.now(UTC), trigger="cli")
    click.echo(
        f"run {again.run_id} {again.status}: "
        f"{sum(1 for i in again.items if i.action in ('create', 'update'))} writes"
    )
    if serve:
        _serve(DemoWorld(settings, simulator, partner_id, password), port)
    simulator.stop()


def _serve(world: DemoWorld, port: int) -> None:
    from waitress import serve as waitress_serve

    from web import create_app

    os.environ.setdefault("BILLING_SYNC_ALLOW_PRIVATE_HOSTS", "1")
    app = create_app(world.settings, start_scheduler=True)
    click.secho(f"\nbilling-sync is up on http://127.0.0.1:{port}", bold=True)
    click.echo(f"  admin:  {ADMIN} / {world.password}")
    click.echo(f"  viewer: finance@demo-msp.example / {world.password}")
    click.echo("  (Ctrl-C stops the app and the simulator)")
    waitress_serve(app, host="127.0.0.1", port=port, threads=8, _quiet=True)

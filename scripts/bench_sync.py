"""Benchmark a sync: N companies x 2 products against the simulator with latency L; prints JSON.

Measures a first run (creates), a no-change re-run and a 10%-changed re-run (next month), with
requests by method, wall time, counting time, peak RSS and the two ratios the README quotes:
requests / lower bound and wall time / (requests x L / concurrency).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from sqlalchemy import insert

from billing_sync import catalog, partner_connection, partners
from billing_sync.connectwise.records import CatalogItem
from billing_sync.counting import month_end_counts
from billing_sync.db import init_db, make_engine, make_session_factory
from billing_sync.models import Company, CompanyMapping, Seat
from billing_sync.periods import latest_closed_period
from billing_sync.settings import Settings
from billing_sync.sync import run_sync
from cw_simulator import SimulatorState

CLIENT_ID = "5f1e6a3c-0000-4000-8000-00000000be9c"
IDS_PER_LOOKUP = 100


def seed_simulator(companies: int) -> dict:
    """A seed with one company and one agreement per vendor company, two catalog items."""
    state = SimulatorState(
        company_id="bench", public_key="pub", private_key="priv-bench", client_id=CLIENT_ID
    )
    for ident in ("PB-BUS", "PB-PREM"):
        state.add_catalog_item(identifier=ident, description=f"{ident} per user")
    for i in range(companies):
        company = state.add_company(name=f"Bench Customer {i:05d}")
        state.add_agreement(company_id=company["id"], name=f"MSA {i:05d}")
    return state.to_seed()


def start_simulator(seed: dict, latency: float, workdir: Path) -> tuple[subprocess.Popen, str]:
    """The simulator in its own process, so its CPU is not billed to the client."""
    seed_path = workdir / "seed.json"
    seed_path.write_text(json.dumps(seed))
    code = (
        "import sys; from cw_simulator import run_simulator; "
        "run_simulator('127.0.0.1', 0, sys.argv[1], float(sys.argv[2]))"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code, str(seed_path), str(latency)],
        stdout=subprocess.PIPE,
        text=True,
    )
    return process, process.stdout.readline().strip()


def seed_database(
    factory, settings: Settings, site: str, companies: int, seats: int, now: datetime
) -> int:
    """Partner, connection, mapped products, mapped companies and ~`seats` seats each."""
    rng = random.Random(42)
    with factory.begin() as session:
        partner = partners.create_partner(session, "bench", now=now)
        partners.set_integration(partner, True)
        form = partner_connection.ConnectionForm(site, "bench", "pub", "priv-bench", CLIENT_ID)
        partner_connection.save_connection(session, settings, partner, form, now=now)
        product_ids = []
        for cw_id, code in ((1, "pb-business"), (2, "pb-premium")):
            product = catalog.add_product(session, code, code)
            catalog.map_product(
                session, partner.id, product, CatalogItem(cw_id, code, "", False), now=now
            )
            product_ids.append(product.id)
        session.execute(
            insert(Company),
            [
                {
                    "partner_id": partner.id,
                    "external_id": f"E{i}",
                    "name": f"Bench Customer {i:05d}",
                }
                for i in range(companies)
            ],
        )
        session.execute(
            insert(CompanyMapping),
            [
                {
                    "partner_id": partner.id,
                    "company_id": i + 1,
                    "status": "mapped",
                    "cw_company_id": i + 1,
                    "agreement_id": i + 1,
                    "matched_by": "auto",
                    "updated_at": now,
                }
                for i in range(companies)
            ],
        )
        start = now - timedelta(days=90)
        rows = []
        for company_id in range(1, companies + 1):
            for n in range(rng.randint(seats - 10, seats + 10)):
                rows.append(
                    {
                        "partner_id": partner.id,
                        "company_id": company_id,
                        "product_id": product_ids[n % 2],
                        "user_external_id": f"u{n}",
                        "active_from": start,
                        "active_to": None,
                        "updated_at": now,
                    }
                )
        session.execute(insert(Seat), rows)
        return partner.id, product_ids, len(rows)


def measure(factory, settings, partner_id, now, site, latency, concurrency) -> dict:
    """One run with the simulator's request counters reset first."""
    requests.post(f"{site}/__simulator/reset-log", timeout=10)
    started = time.perf_counter()
    report = run_sync(factory, settings, partner_id, now=now, trigger="cli")
    wall = time.perf_counter() - started
    stats = requests.get(f"{site}/__simulator/stats", timeout=10).json()
    by_method = stats["byMethod"]
    total = sum(by_method.values())
    writes = sum(1 for i in report.items if i.action in ("create", "update"))
    agreements = len({i.agreement_id for i in report.items})
    lower = agreements + writes + math.ceil(agreements / IDS_PER_LOOKUP) + 1  # + codebase
    return {
        "status": report.status,
        "requests": by_method,
        "requests_total": total,
        "writes_needed": writes,
        "wall_seconds": round(wall, 2),
        "request_ratio": round(total / lower, 3),
        "wall_ratio": round(wall / (total * latency / concurrency), 3) if latency else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--companies", type=int, default=2000)
    parser.add_argument("--seats", type=int, default=50, help="seats per company (both products)")
    parser.add_argument("--latency", type=float, default=0.05, help="simulator seconds per call")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        simulator, site = start_simulator(seed_simulator(args.companies), args.latency, workdir)
        try:
            print(json.dumps(run_benchmark(args, workdir, site), indent=2))
        finally:
            simulator.terminate()
            simulator.wait(timeout=10)


def run_benchmark(args, workdir: Path, site: str) -> dict:
    """Seed, then the three measured runs; returns the figures."""
    settings = Settings(
        database_url=f"sqlite:///{workdir / 'bench.sqlite3'}",
        secret_key="bench-secret",
        allow_private_hosts=True,
        instance_path=workdir,
        sync_concurrency=args.concurrency,
    )
    engine = make_engine(settings.database_url)
    init_db(engine)
    factory = make_session_factory(engine)
    now = datetime.now(UTC)
    partner_id, product_ids, seat_count = seed_database(
        factory, settings, site, args.companies, args.seats, now
    )
    with factory() as session:
        boundary = latest_closed_period(now, "UTC").end("UTC")
        started = time.perf_counter()
        month_end_counts(session, partner_id, boundary)
        counting = time.perf_counter() - started
    figures = {
        "companies": args.companies,
        "seats": seat_count,
        "latency": args.latency,
        "concurrency": args.concurrency,
        "counting_seconds": round(counting, 3),
    }
    figures["first_run"] = measure(
        factory, settings, partner_id, now, site, args.latency, args.concurrency
    )
    figures["no_change_rerun"] = measure(
        factory,
        settings,
        partner_id,
        now + timedelta(minutes=5),
        site,
        args.latency,
        args.concurrency,
    )
    next_month = latest_closed_period(now, "UTC").next().end("UTC") + timedelta(hours=1)
    with factory.begin() as session:  # 10% of companies gain a user during the current month
        session.execute(
            insert(Seat),
            [
                {
                    "partner_id": partner_id,
                    "company_id": c,
                    "product_id": product_ids[0],
                    "user_external_id": "joined",
                    "active_from": next_month - timedelta(days=10),
                    "active_to": None,
                    "updated_at": now,
                }
                for c in range(1, args.companies + 1, 10)
            ],
        )
    figures["ten_percent_changed_rerun"] = measure(
        factory, settings, partner_id, next_month, site, args.latency, args.concurrency
    )
    figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return figures


if __name__ == "__main__":
    main()

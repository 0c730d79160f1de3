"""Benchmark the fleet: P partners x A agreements x 2 products, every month close due at once.

Each configuration starts from a fresh database and a fresh simulator (its own process, latency
L per call), so every run creates its additions: today's single `billing-sync scheduler` running
syncs in-process, then the queue layout (one scheduler enqueueing, W `billing-sync worker`
processes). Prints JSON: wall time from the scheduler's start until every month-close run has
ended, agreements per second, requests, and whether the issue's targets were met. Figures, not
a timed test: the machine's cores bound them (see README "Performance").
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from redis import Redis
from sqlalchemy import func, insert, select, text

from bench_sync import CLIENT_ID, seed_simulator, start_simulator  # scripts/ is on the path
from billing_sync import catalog, partner_connection, partners
from billing_sync.connectwise.records import CatalogItem
from billing_sync.db import init_db, make_engine, make_session_factory
from billing_sync.models import Base, Company, CompanyMapping, Run, Schedule, Seat
from billing_sync.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-fleet-secret"
USERS = (3, 2)  # seats per company of the two products


def fresh_database(url: str) -> None:
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    else:
        Base.metadata.drop_all(engine)
    init_db(engine)
    engine.dispose()


def seed_database(settings: Settings, site: str, partners_n: int, agreements: int) -> None:
    """P partners, each with A mapped companies on their own agreements, month close due."""
    engine = make_engine(settings.database_url)
    factory = make_session_factory(engine)
    now = datetime.now(UTC)
    with factory.begin() as session:
        products = [catalog.add_product(session, c, c) for c in ("pb-business", "pb-premium")]
        session.flush()
        product_ids = [p.id for p in products]
        for p in range(partners_n):
            partner = partners.create_partner(session, f"msp{p:04d}", now=now)
            partners.set_integration(partner, True)
            form = partner_connection.ConnectionForm(site, "bench", "pub", "priv-bench", CLIENT_ID)
            partner_connection.save_connection(session, settings, partner, form, now=now)
            for cw_id, product in zip((1, 2), products, strict=True):
                item = CatalogItem(cw_id, product.code, "", False)
                catalog.map_product(session, partner.id, product, item, now=now)
            session.add(
                Schedule(
                    partner_id=partner.id,
                    frequency="daily",
                    at_time="00:15",
                    enabled=False,
                    updated_at=now,
                    next_month_close_at=now - timedelta(minutes=1),  # every close due at once
                )
            )
            session.flush()
            first = p * agreements
            session.execute(
                insert(Company),
                [
                    {"partner_id": partner.id, "external_id": f"E{k}", "name": f"Customer {k}"}
                    for k in range(first, first + agreements)
                ],
            )
            ids = session.scalars(
                select(Company.id).where(Company.partner_id == partner.id).order_by(Company.id)
            ).all()
            session.execute(
                insert(CompanyMapping),
                [
                    {
                        "partner_id": partner.id,
                        "company_id": cid,
                        "status": "mapped",
                        "cw_company_id": first + n + 1,
                        "agreement_id": first + n + 1,
                        "matched_by": "auto",
                        "updated_at": now,
                    }
                    for n, cid in enumerate(ids)
                ],
            )
            session.execute(
                insert(Seat),
                [
                    {
                        "partner_id": partner.id,
                        "company_id": cid,
                        "product_id": product_ids[j],
                        "user_external_id": f"u{u}",
                        "active_from": now - timedelta(days=90),
                        "updated_at": now,
                    }
                    for cid in ids
                    for j, users in enumerate(USERS)
                    for u in range(users)
                ],
            )
    engine.dispose()


def environment(settings: Settings, workdir: Path, redis_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLING_SYNC_")}
    return {
        **env,
        "PYTHONPATH": str(ROOT),
        "BILLING_SYNC_DATABASE_URL": settings.database_url,
        "BILLING_SYNC_SECRET_KEY": SECRET,
        "BILLING_SYNC_ALLOW_PRIVATE_HOSTS": "1",
        "BILLING_SYNC_INSTANCE_PATH": str(workdir),
        "BILLING_SYNC_SCHEDULER_TICK": "0.5",
        "BILLING_SYNC_CONCURRENCY": str(settings.sync_concurrency),
        "BILLING_SYNC_REDIS_URL": redis_url or "",
    }


def measure(args, workdir: Path, workers: int) -> dict:
    """One configuration from scratch: seed, start, wait for every close, stop; its figures."""
    label = f"{workers}_workers" if workers else "single_scheduler"
    total = args.partners * args.agreements
    simulator, site = start_simulator(seed_simulator(total), args.latency, workdir)
    settings = Settings(
        database_url=args.database_url or f"sqlite:///{workdir / f'{label}.sqlite3'}",
        secret_key=SECRET,
        allow_private_hosts=True,
        instance_path=workdir,
        sync_concurrency=args.concurrency,
    )
    redis_url = args.redis_url if workers else None
    if redis_url:
        Redis.from_url(redis_url).flushdb()
    processes = []
    try:
        fresh_database(settings.database_url)
        seed_database(settings, site, args.partners, args.agreements)
        env = environment(settings, workdir, redis_url)

        def start(*command: str) -> None:
            log = open(workdir / f"{label}-{len(processes)}.log", "w")  # noqa: SIM115
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "billing_sync.cli", *command],
                    env=env,
                    cwd=ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )

        for n in range(workers):
            start("worker", "--name", f"bench-{n}")
        time.sleep(2 if workers else 0)  # workers listening before the first job
        started = time.perf_counter()
        start("scheduler")
        statuses = wait_for_closes(settings, args.partners, args.timeout)
        wall = time.perf_counter() - started
        stats = requests.get(f"{site}/__simulator/stats", timeout=10).json()
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        simulator.terminate()
        simulator.wait(10)
    return {
        "workers": workers or None,
        "layout": "queue" if workers else "embedded (one scheduler, runs in-process)",
        "wall_seconds": round(wall, 1),
        "agreements_per_second": round(total / wall, 1),
        "runs": dict(statuses),
        "requests": stats["byMethod"],
    }


def wait_for_closes(settings: Settings, partners_n: int, timeout: float) -> Counter:
    """Poll the database until every partner's month-close run has ended."""
    engine = make_engine(settings.database_url)
    factory = make_session_factory(engine)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with factory() as session:
                statuses = Counter(
                    dict(
                        session.execute(
                            select(Run.status, func.count(Run.id))
                            .where(Run.trigger == "month_close")
                            .group_by(Run.status)
                        ).all()
                    )
                )
            finished = statuses["succeeded"] + statuses["partial"]
            if finished >= partners_n:
                return statuses
            if time.monotonic() > deadline:
                raise SystemExit(f"not done after {timeout} s: {dict(statuses)}")
            time.sleep(0.25)
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partners", type=int, default=300)
    parser.add_argument("--agreements", type=int, default=20, help="per partner")
    parser.add_argument("--latency", type=float, default=0.05, help="simulator seconds per call")
    parser.add_argument("--concurrency", type=int, default=4, help="agreements at once per run")
    parser.add_argument("--workers", default="1,2,4", help="worker counts to measure")
    parser.add_argument("--database-url", help="default: a fresh SQLite file per configuration")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15", help="flushed")
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--skip-single", action="store_true", help="no single-scheduler baseline")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",") if n]
    figures: dict = {
        "partners": args.partners,
        "agreements": args.partners * args.agreements,
        "latency": args.latency,
        "concurrency_per_run": args.concurrency,
        "database": (args.database_url or "sqlite").split(":")[0],
        "cpus": os.cpu_count(),
        "configurations": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for workers in ([] if args.skip_single else [0]) + counts:
            result = measure(args, Path(tmp), workers)
            figures["configurations"].append(result)
            print(json.dumps(result), file=sys.stderr, flush=True)
    by_workers = {c["workers"]: c for c in figures["configurations"]}
    if None in by_workers and 4 in by_workers:
        speedup = by_workers[4]["agreements_per_second"] / by_workers[None]["agreements_per_second"]
        figures["speedup_4_workers_vs_single"] = round(speedup, 2)
        figures["target_3x_met"] = speedup >= 3
    if 4 in by_workers:
        figures["target_under_120s_met"] = by_workers[4]["wall_seconds"] < 120
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

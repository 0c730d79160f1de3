#!/usr/bin/env python
"""Benchmark the API's writes: 100,000 seats through PUT /seats, then 1,000 user-list snapshots.

Usage: .venv/bin/python scripts/bench_api.py [--seats 100000] [--batch 5000] [--snapshots 1000]
       [--users 100] [--database-url URL]
Drives the app in process through Flask's test client (the whole request path: token, limits,
schema validation, the service, the commit), on a temporary SQLite file unless a URL of an empty
database is given. Prints seats/s and p50/p95 latency of each kind of request (figures, not a
test; target: 100k seats in under 30 s on SQLite).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from billing_sync.api_tokens import create_token
from billing_sync.catalog import add_product
from billing_sync.db import init_db, make_engine, make_session_factory
from billing_sync.partners import create_partner
from billing_sync.settings import Settings
from web import create_app

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
PRODUCTS = ("pb-business", "pb-personal")
USERS_PER_COMPANY = 25


def _seat(n: int) -> dict:
    company = n // (USERS_PER_COMPANY * len(PRODUCTS))
    start = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=n % 500)
    return {
        "company_id": f"V{company:05d}",
        "company_name": f"Company {company}",
        "user_id": f"user-{n // len(PRODUCTS)}",
        "user_email": f"user-{n // len(PRODUCTS)}@example.test",
        "product": PRODUCTS[n % len(PRODUCTS)],
        "active_from": start.isoformat().replace("+00:00", "Z"),
        "active_to": None if n % 3 else (start + timedelta(days=90)).isoformat(),
    }


def _quantiles(latencies: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(latencies, n=20)  # 5 % steps
    return {"p50_ms": round(cuts[9] * 1000, 1), "p95_ms": round(cuts[18] * 1000, 1)}


def _timed(client, path: str, body: dict, headers: dict) -> float:
    start = time.perf_counter()
    response = client.put(path, json=body, headers=headers)
    elapsed = time.perf_counter() - start
    if response.status_code != 200:
        raise SystemExit(f"{path}: {response.status_code} {response.get_data(as_text=True)[:500]}")
    return elapsed


def bench_seats(client, headers: dict, total: int, batch: int) -> dict:
    """PUT /seats in batches; then the same seats again (all unchanged)."""
    result = {}
    for label in ("first", "again"):
        latencies = []
        for start in range(0, total, batch):
            body = {"seats": [_seat(n) for n in range(start, min(start + batch, total))]}
            latencies.append(_timed(client, "/api/v1/seats", body, headers))
        seconds = sum(latencies)
        result[label] = {
            "seats": total,
            "requests": len(latencies),
            "seconds": round(seconds, 2),
            "seats_per_s": round(total / seconds),
            **_quantiles(latencies),
        }
    return result


def bench_snapshots(client, headers: dict, count: int, users: int) -> dict:
    """Snapshots of `users` users over 200 companies, each later one with 10 % churn."""
    latencies = []
    companies = 200
    for n in range(count):
        company, round_ = n % companies, n // companies
        as_of = NOW - timedelta(days=30) + timedelta(hours=round_)
        listed = [f"s{company}-{u + round_ * users // 10}" for u in range(users)]
        body = {
            "as_of": as_of.isoformat(),
            "company_name": f"Roster Co {company}",
            "users": [{"user_id": user, "user_email": None} for user in listed],
        }
        path = f"/api/v1/companies/R{company:04d}/products/pb-business/users"
        latencies.append(_timed(client, path, body, headers))
    seconds = sum(latencies)
    return {
        "snapshots": count,
        "users_each": users,
        "seconds": round(seconds, 2),
        "snapshots_per_s": round(count / seconds, 1),
        **_quantiles(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seats", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--snapshots", type=int, default=1_000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        engine = make_engine(url)
        init_db(engine)
        factory = make_session_factory(engine)
        with factory.begin() as session:
            for code in PRODUCTS:
                add_product(session, code, code)
            partner = create_partner(session, "bench-msp", now=NOW)
            _row, token = create_token(session, partner, scope="write", now=NOW)
        settings = dataclasses.replace(
            Settings.from_env({}),
            database_url=url,
            secret_key="bench-secret-key",
            api_rate_limit="1000000/minute",
        )
        app = create_app(settings, session_factory=factory)
        app.extensions["billing_sync"].clock = lambda: NOW
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        figures = {
            "database": engine.dialect.name,
            "put_seats": bench_seats(client, headers, args.seats, args.batch),
            "put_users": bench_snapshots(client, headers, args.snapshots, args.users),
        }
        engine.dispose()
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

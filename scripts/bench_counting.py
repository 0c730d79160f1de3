#!/usr/bin/env python
"""Benchmark month-end and live counts over 100k seats (2000 companies x 2 products x ~25 users).

Usage: .venv/bin/python scripts/bench_counting.py [--database-url URL] [--import-rows N]
Seeds a temporary SQLite database unless a URL of an empty database is given. Prints one JSON
object with the seconds each step took (target: under 1 s for each count).
"""

from __future__ import annotations

import argparse
import io
import json
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select

from billing_sync.counting import live_counts, month_end_counts, month_end_history
from billing_sync.db import init_db, make_engine, make_session_factory
from billing_sync.models import Company, Partner, Product, Seat
from billing_sync.periods import Period
from billing_sync.usage import UsageRow, import_usage_csv, write_usage_csv

COMPANIES = 2000
PRODUCTS = ("pb-business", "pb-personal")
TZ = "Europe/Amsterdam"
PERIOD = Period(2026, 10)
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def seed(session, rng: random.Random) -> int:
    """Insert the partner, products, companies and ~100k seats; return the partner id."""
    created = datetime(2025, 1, 1, tzinfo=UTC)
    partner = Partner(name="bench-msp", timezone=TZ, created_at=created)
    products = [Product(code=code, name=code) for code in PRODUCTS]
    session.add_all([partner, *products])
    session.flush()
    session.execute(
        insert(Company),
        [
            {"partner_id": partner.id, "external_id": str(n), "name": f"Co {n}"}
            for n in range(COMPANIES)
        ],
    )
    company_ids = [row.id for row in session.execute(Company.__table__.select())]
    seats = []
    for company_id in company_ids:
        for product in products:
            for user in range(rng.randint(20, 30)):
                start = created + timedelta(days=rng.randint(0, 600))
                end = None if rng.random() < 0.7 else start + timedelta(days=rng.randint(1, 400))
                seats.append(
                    {
                        "partner_id": partner.id,
                        "company_id": company_id,
                        "product_id": product.id,
                        "user_external_id": f"u{user}",
                        "active_from": start,
                        "active_to": end,
                        "updated_at": created,
                    }
                )
    session.execute(insert(Seat), seats)
    session.commit()
    return partner.id


def timed(call):
    started = time.perf_counter()
    result = call()
    return round(time.perf_counter() - started, 4), result


def bench_import(session_factory, rows: int) -> dict:
    """Import (then re-import) a generated usage CSV for a second partner."""
    with session_factory() as session:
        partner = Partner(name="bench-import", timezone="UTC", created_at=NOW)
        session.add(partner)
        session.commit()
        usage = [
            UsageRow(
                str(n // 50),
                f"Company {n // 50}",
                f"user-{n}",
                None,
                PRODUCTS[n % 2],
                datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=n % 5000),
            )
            for n in range(rows)
        ]
        text = io.StringIO()
        write_usage_csv(usage, text)
        first, _ = timed(
            lambda: import_usage_csv(session, partner.id, io.StringIO(text.getvalue()), now=NOW)
        )
        session.commit()
        again, summary = timed(
            lambda: import_usage_csv(session, partner.id, io.StringIO(text.getvalue()), now=NOW)
        )
        assert summary.seats_unchanged == rows, summary
    return {"import_rows": rows, "import_seconds": first, "reimport_seconds": again}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url")
    parser.add_argument("--import-rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        engine = make_engine(url)
        init_db(engine)
        factory = make_session_factory(engine)
        with factory() as session:
            seed_seconds, partner_id = timed(lambda: seed(session, random.Random(42)))
        with factory() as session:
            boundary = PERIOD.end(TZ)
            month_end, counts = timed(lambda: month_end_counts(session, partner_id, boundary))
            live, live_result = timed(lambda: live_counts(session, partner_id, NOW))
            periods = [PERIOD]
            while len(periods) < 12:
                periods.insert(0, periods[0].previous())
            history, _ = timed(lambda: month_end_history(session, partner_id, periods, TZ))
            seats = session.scalar(select(func.count()).select_from(Seat))
        report = {
            "database": engine.dialect.name,
            "seats": seats,
            "seed_seconds": seed_seconds,
            "month_end_counts_seconds": month_end,
            "month_end_keys": len(counts),
            "month_end_users": sum(counts.values()),
            "live_counts_seconds": live,
            "live_keys": len(live_result),
            "month_end_history_12_seconds": history,
        }
        if args.import_rows:
            report |= bench_import(factory, args.import_rows)
        engine.dispose()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

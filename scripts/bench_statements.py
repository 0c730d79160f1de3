#!/usr/bin/env python
"""Benchmark customer statements: a partner-wide CSV zip and PDF zip for one month.

Usage: .venv/bin/python scripts/bench_statements.py [--companies 300] [--users 20]
    [--database-url URL]
Seeds a temporary SQLite database (or an empty database at URL): one partner in
Pacific/Auckland, N companies with U users each holding a seat across October's end (a tenth
of them leave during the month). Prints one JSON object: seconds to gather the statement data,
to write the CSV zip and the PDF zip, their sizes, and PDF seconds per company.
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select

from billing_sync.db import init_db, make_engine, make_session_factory
from billing_sync.models import Company, Partner, Product, Seat
from billing_sync.periods import Period
from billing_sync.statements.data import build_statement
from billing_sync.statements.service import StatementRequest, export_zip

TZ = "Pacific/Auckland"
PERIOD = Period(2026, 10)
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
# Names a customer's users carry: accented, Greek and Cyrillic letters must print in the PDF.
NAMES = ("anna", "jörg", "ελένη", "иван", "maría", "søren")


def seed(session, companies: int, users: int) -> int:
    """The partner, a product, the companies and their seats; the partner's id."""
    created = datetime(2025, 1, 1, tzinfo=UTC)
    partner = Partner(name="bench-msp", timezone=TZ, created_at=created)
    product = Product(code="pb-business", name="Business")
    session.add_all([partner, product])
    session.flush()
    session.execute(
        insert(Company),
        [
            {"partner_id": partner.id, "external_id": f"C{n:05d}", "name": f"Client {n} Ltd"}
            for n in range(companies)
        ],
    )
    ids = session.scalars(select(Company.id).where(Company.partner_id == partner.id)).all()
    left = datetime(2026, 10, 15, tzinfo=UTC)
    seats = [
        {
            "partner_id": partner.id,
            "company_id": company_id,
            "product_id": product.id,
            "user_external_id": f"u{n}",
            "user_email": f"{NAMES[n % len(NAMES)]}.{n}@example.com",
            "active_from": created + timedelta(days=n),
            "active_to": left if n % 10 == 0 else None,
            "updated_at": created,
        }
        for company_id in ids
        for n in range(users)
    ]
    session.execute(insert(Seat), seats)
    return partner.id


def timed_zip(factory, partner_id: int, fmt: str) -> tuple[float, int, int]:
    """Seconds, bytes and companies of one partner-wide zip."""
    out = io.BytesIO()
    started = time.perf_counter()
    with factory() as session:
        export = export_zip(session, StatementRequest(partner_id, PERIOD, fmt, NOW), out)
    return time.perf_counter() - started, len(out.getvalue()), export.companies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--companies", type=int, default=300)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        engine = make_engine(url)
        init_db(engine)
        factory = make_session_factory(engine)
        with factory.begin() as session:
            partner_id = seed(session, args.companies, args.users)
        started = time.perf_counter()
        with factory() as session:
            statement = build_statement(session, partner_id, PERIOD, now=NOW)
        gather = time.perf_counter() - started
        csv_seconds, csv_bytes, _ = timed_zip(factory, partner_id, "csv")
        pdf_seconds, pdf_bytes, companies = timed_zip(factory, partner_id, "pdf")
        engine.dispose()
    figures = {
        "database": url.split(":", 1)[0],
        "companies": companies,
        "users_counted": sum(len(c.counted) for c in statement.companies),
        "gather_seconds": round(gather, 3),
        "csv_zip": {"seconds": round(csv_seconds, 2), "bytes": csv_bytes},
        "pdf_zip": {
            "seconds": round(pdf_seconds, 2),
            "bytes": pdf_bytes,
            "seconds_per_company": round(pdf_seconds / max(companies, 1), 3),
        },
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

"""Time the company mappings pages with 5,000 companies (mappings, runs, ledger) on SQLite.

Usage: .venv/bin/python scripts/bench_mappings_page.py [--companies N] [--runs N] [--repeat N]
Seeds as many cached ConnectWise companies as vendor companies, ranks the suggestions once (timed
apart: a refresh does it, a page view never does), then times each tab, the Unmatched worklist
with its suggestions among them. Prints one JSON object: seeding figures and per-request
milliseconds (median, p95 and max).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from billing_sync.catalog import add_product  # noqa: E402
from billing_sync.db import init_db, make_engine, make_session_factory  # noqa: E402
from billing_sync.models import (  # noqa: E402
    Company,
    CompanyMapping,
    CwCompanyCache,
    MatchSuggestion,
    Run,
    RunItem,
)
from billing_sync.partners import create_partner, create_user  # noqa: E402
from billing_sync.settings import Settings  # noqa: E402
from billing_sync.suggestions import recompute_suggestions  # noqa: E402

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
PASSWORD = "benchmark-password"


def _status(n: int) -> str | None:
    # 70 % mapped, 20 % unmatched (no row), 10 % excluded.
    return "mapped" if n % 10 < 7 else None if n % 10 < 9 else "excluded"


def seed(factory, companies: int, runs: int) -> dict:
    """One partner with `companies` companies, their mappings and `runs` runs of ledger items."""
    with factory.begin() as session:
        products = [add_product(session, f"p{n}", f"Product {n}").id for n in range(2)]
        partner = create_partner(session, "bench", timezone="Europe/Amsterdam", now=NOW)
        create_user(session, partner, "admin@bench.test", PASSWORD, now=NOW)
        session.execute(
            insert(Company),
            [
                {"partner_id": partner.id, "external_id": f"ext-{n:05}", "name": f"Client {n:05}"}
                for n in range(companies)
            ],
        )
        ids = list(session.scalars(select(Company.id).order_by(Company.id)))
        session.execute(
            insert(CompanyMapping),
            [
                {
                    "partner_id": partner.id,
                    "company_id": cid,
                    "status": _status(n),
                    "cw_company_id": 1000 + n,
                    "cw_company_name": f"CW Client {n:05}",
                    "agreement_id": 5000 + n,
                    "agreement_name": f"Agreement {n:05}",
                    "matched_by": "auto",
                    "updated_at": NOW,
                }
                for n, cid in enumerate(ids)
                if _status(n)
            ],
        )
        mapped = [cid for n, cid in enumerate(ids) if _status(n) == "mapped"]
        items = 0
        for r in range(runs):
            started = NOW - timedelta(days=runs - r)
            run = Run(
                partner_id=partner.id,
                trigger="schedule",
                dry_run=False,
                status="partial",
                basis="month_end",
                started_at=started,
                finished_at=started,
            )
            session.add(run)
            session.flush()
            rows = [
                {
                    "run_id": run.id,
                    "partner_id": partner.id,
                    "company_id": cid,
                    "product_id": pid,
                    "agreement_id": 1,
                    "action": "error" if cid % 97 == 0 else "unchanged",
                    "state": "done",
                    "quantity_before": 3,
                    "quantity_after": 3,
                    "error": "ambiguous additions 1, 2" if cid % 97 == 0 else None,
                    "advice": "Cancel one of them",
                    "created_at": started,
                }
                for cid in mapped
                for pid in products
            ]
            session.execute(insert(RunItem), rows)
            items += len(rows)
    return {"companies": companies, "mapped": len(mapped), "runs": runs, "run_items": items}


def _cw_name(n: int) -> str:
    # Unmatched ones are spelt three ways: identical, other case and punctuation, similar.
    if _status(n) == "mapped" or _status(n) == "excluded":
        return f"CW Client {n:05}"
    return (f"Client {n:05}", f"CLIENT {n:05}.", f"Client {n:05} Holdings")[n % 3]


def seed_suggestions(factory, companies: int) -> dict:
    """Cache one ConnectWise company per vendor company, then rank the suggestions (timed)."""
    with factory.begin() as session:
        partner_id = session.scalar(select(Company.partner_id).limit(1))
        session.execute(
            insert(CwCompanyCache),
            [
                {
                    "partner_id": partner_id,
                    "cw_company_id": 1000 + n,
                    "name": _cw_name(n),
                    "identifier": f"C{n:05}",
                    "active_agreements": 1 if n % 4 else 2,
                    "agreement_id": 5000 + n if n % 4 else None,
                    "agreement_name": f"Agreement {n:05}" if n % 4 else None,
                    "fetched_at": NOW,
                }
                for n in range(companies)
            ],
        )
    start = time.perf_counter()
    with factory.begin() as session:
        ranked = recompute_suggestions(session, partner_id, NOW)
    seconds = time.perf_counter() - start
    with factory() as session:
        reasons = dict(
            session.execute(
                select(MatchSuggestion.reason, func.count()).group_by(MatchSuggestion.reason)
            ).all()
        )
    return {
        "cw_companies": companies,
        "suggestions": ranked,
        "by_reason": reasons,
        "rank_seconds": round(seconds, 2),
    }


def time_pages(app, repeat: int) -> dict:
    """Median and max milliseconds per page, after one warm-up request each."""
    client = app.test_client()
    client.post("/login", data={"email": "admin@bench.test", "password": PASSWORD})
    pages = {
        "mapped tab": "/companies/?tab=mapped",
        "unmatched worklist": "/companies/?tab=unmatched",
        "unmatched worklist page 10": "/companies/?tab=unmatched&page=10",
        "problems tab": "/companies/?tab=problems",
        "picker options (json)": "/companies/cw-options.json",
        "excluded tab": "/companies/?tab=excluded",
        "search 'client 012'": "/companies/?tab=mapped&q=client+012",
        "mapped page 50": "/companies/?tab=mapped&page=50",
    }
    figures = {}
    for label, url in pages.items():
        assert client.get(url).status_code == 200, url
        samples = []
        for _ in range(repeat):
            start = time.perf_counter()
            response = client.get(url)
            samples.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200
        samples.sort()
        figures[label] = {
            "median_ms": round(statistics.median(samples), 1),
            "p95_ms": round(samples[max(0, round(len(samples) * 0.95) - 1)], 1),
            "max_ms": round(max(samples), 1),
        }
    return figures


def main() -> None:
    """Seed a temporary database, time the pages, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--companies", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    from web import create_app

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            database_url=f"sqlite:///{tmp}/bench.sqlite3",
            secret_key="bench",
            instance_path=Path(tmp),
        )
        engine = make_engine(settings.database_url)
        init_db(engine)
        factory = make_session_factory(engine)
        start = time.perf_counter()
        seeded = seed(factory, args.companies, args.runs)
        seeded["seed_seconds"] = round(time.perf_counter() - start, 1)
        seeded["suggestions"] = seed_suggestions(factory, args.companies)
        app = create_app(settings, session_factory=factory)
        app.config["WTF_CSRF_ENABLED"] = False
        print(json.dumps({"seed": seeded, "pages": time_pages(app, args.repeat)}, indent=2))
        engine.dispose()


if __name__ == "__main__":
    main()

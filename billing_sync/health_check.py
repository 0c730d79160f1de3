"""Pre-flight health of every mapped company: judge what was read, record it, check on demand."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from billing_sync import health_store
from billing_sync.health_reads import (
    Readings,
    read_additions,
    read_agreements,
    read_catalog,
    read_companies,
)
from billing_sync.mapping_health import RED, Observed, Verdict, judge
from billing_sync.models import Partner
from billing_sync.sync.gather import MappedProduct, Target, mapped_products, mapped_targets


def observed(target: Target, readings: Readings, products: list[MappedProduct]) -> Observed:
    """What the readings say about one mapped company (absent tables stay unread)."""
    agreements, companies, catalog = readings.agreements, readings.companies, readings.catalog
    denied = set(readings.denied)
    if target.agreement_id in readings.additions_denied:
        denied.add("additions")
    return Observed(
        agreement_id=target.agreement_id,
        cw_company_id=target.cw_company_id,
        agreement=agreements.get(target.agreement_id) if agreements is not None else None,
        agreement_found=None if agreements is None else target.agreement_id in agreements,
        company=companies.get(target.cw_company_id) if companies is not None else None,
        company_found=None if companies is None else target.cw_company_id in companies,
        catalog=dict(catalog or {}),
        products={p.cw_product_id: p.code for p in products},
        active=(
            tuple(readings.active[target.agreement_id])
            if target.agreement_id in readings.active
            else None
        ),
        denied=frozenset(denied),
    )


def judge_all(
    targets: Iterable[Target],
    products: list[MappedProduct],
    readings: Readings,
    refused: set[int],
    now: datetime,
) -> dict[int, tuple[int, Verdict]]:
    """Company id -> (agreement id, verdict) for every target."""
    verdicts = {}
    for target in targets:
        seen = observed(target, readings, products)
        if target.company_id in refused:
            seen = replace(seen, write_refused=True)
        verdicts[target.company_id] = (target.agreement_id, judge(seen, now))
    return verdicts


def record_readings(
    session: Session,
    partner_id: int,
    targets: list[Target],
    products: list[MappedProduct],
    readings: Readings,
    *,
    run_id: int | None,
    now: datetime,
) -> dict[int, tuple[int, Verdict]]:
    """Judge every target from the readings and the ledger's refused writes; store the verdicts."""
    refused = health_store.refused_writes(session, partner_id)
    verdicts = judge_all(targets, products, readings, refused, now)
    health_store.record(session, partner_id, verdicts, run_id=run_id, now=now)
    return verdicts


def read_for_health(client, readings: Readings, targets, products) -> None:
    """The grouped reads a run does not do itself: the mapped catalog items and companies."""
    read_catalog(client, readings, (p.cw_product_id for p in products))
    read_companies(client, readings, (t.cw_company_id for t in targets))


@dataclass
class CheckReport:
    """An on-demand check: every mapped company's verdict, and reads that failed outright."""

    partner: str
    checked_at: datetime
    rows: list[tuple[Target, Verdict]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Companies by level."""
        counts = {"green": 0, "amber": 0, "red": 0}
        for _target, verdict in self.rows:
            counts[verdict.level] += 1
        return counts

    @property
    def any_red(self) -> bool:
        """True when some company is red."""
        return any(v.level == RED for _t, v in self.rows)

    def to_json(self) -> dict:
        """The `check --json` object."""
        return {
            "partner": self.partner,
            "checked_at": self.checked_at.isoformat(),
            "summary": self.counts(),
            "companies": [
                {
                    "company": t.external_id,
                    "name": t.name,
                    "agreement_id": t.agreement_id,
                    "level": v.level,
                    "reasons": [r.to_json() for r in v.reasons],
                    "facts": v.facts.to_json(),
                }
                for t, v in self.rows
            ],
            "problems": self.problems,
        }


def check_partner(
    factory: sessionmaker[Session], client, partner_id: int, *, now: datetime, workers: int
) -> CheckReport:
    """Read ConnectWise for every mapped company (grouped, bounded), judge, record, report."""
    with factory() as session:
        partner = session.get(Partner, partner_id)
        name = partner.name
        targets = mapped_targets(session, partner_id)
        products = mapped_products(session, partner_id)
    readings = Readings()
    read_agreements(client, readings, (t.agreement_id for t in targets))
    read_for_health(client, readings, targets, products)
    if "agreements" not in readings.denied:
        read_additions(client, readings, (t.agreement_id for t in targets), now, workers)
    with factory.begin() as session:
        verdicts = record_readings(
            session, partner_id, targets, products, readings, run_id=None, now=now
        )
    report = CheckReport(name, now, problems=list(readings.problems))
    report.rows = [(t, verdicts[t.company_id][1]) for t in targets]
    return report

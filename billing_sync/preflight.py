"""The on-demand pre-flight check (`billing-sync check`): read ConnectWise now, judge, record."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from billing_sync.mapping_health import RED, Verdict
from billing_sync.mapping_health_reads import Readings, read_additions, read_agreements
from billing_sync.mapping_health_record import read_for_health, record_readings
from billing_sync.models import Partner
from billing_sync.partner_connection import client_for
from billing_sync.settings import Settings
from billing_sync.sync.gather import Target, mapped_products, mapped_targets


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
    verdicts = record_readings(
        factory, partner_id, targets, products, readings, run_id=None, now=now
    )
    report = CheckReport(name, now, problems=list(readings.problems))
    report.rows = [(t, verdicts[t.company_id][1]) for t in targets]
    return report


def check_now(
    factory: sessionmaker[Session], settings: Settings, partner_id: int, *, now: datetime
) -> CheckReport:
    """The on-demand check with the partner's own client, bounded by the run deadline."""
    with factory() as session:
        partner = session.get(Partner, partner_id)
        workers = partner.sync_concurrency or settings.sync_concurrency
        client = client_for(session, settings, partner_id, within=settings.run_deadline_seconds)
    with client:
        return check_partner(factory, client, partner_id, now=now, workers=workers)

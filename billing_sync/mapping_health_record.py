"""Pre-flight health of every mapped company: judge what was read and record it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from billing_sync import mapping_health_store
from billing_sync.mapping_health import Observed, Verdict, judge
from billing_sync.mapping_health_reads import Readings, read_catalog, read_companies

if TYPE_CHECKING:  # the run engine imports this module; at run time it needs only attributes
    from billing_sync.sync.gather import MappedProduct, Target


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
    factory: sessionmaker[Session],
    partner_id: int,
    targets: list[Target],
    products: list[MappedProduct],
    readings: Readings,
    *,
    run_id: int | None,
    now: datetime,
) -> dict[int, tuple[int, Verdict]]:
    """Judge every target from the readings and the ledger's refused writes; store the verdicts.

    A preview and a run may record at once: the one whose insert lost the race tries again (its
    rows then exist, so it updates them).
    """

    def once() -> dict[int, tuple[int, Verdict]]:
        with factory.begin() as session:
            refused = mapping_health_store.refused_writes(session, partner_id)
            verdicts = judge_all(targets, products, readings, refused, now)
            mapping_health_store.record(session, partner_id, verdicts, run_id=run_id, now=now)
        return verdicts

    try:
        return once()
    except IntegrityError:
        return once()


def read_for_health(client, readings: Readings, targets, products) -> None:
    """The grouped reads a run does not do itself: the mapped catalog items and companies."""
    read_catalog(client, readings, (p.cw_product_id for p in products))
    read_companies(client, readings, (t.cw_company_id for t in targets))

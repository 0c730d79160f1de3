"""The ConnectWise reads pre-flight health needs, grouped and bounded; a 403 becomes a finding."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from billing_sync.connectwise import conditions as cond
from billing_sync.connectwise.errors import ConnectWiseError, NotFound, PermissionDenied
from billing_sync.connectwise.records import Addition, Agreement, CatalogItem, CwCompany
from billing_sync.planning import current_additions

log = logging.getLogger(__name__)
IDS_PER_REQUEST = 100  # keeps `id in (...)` URLs well under server URL limits


@dataclass
class Readings:
    """What was read for one partner; a None table was not read (or could not be)."""

    agreements: dict[int, Agreement] | None = None
    companies: dict[int, CwCompany] | None = None
    catalog: dict[int, CatalogItem | None] | None = None  # None value: no such item
    active: dict[int, list[Addition]] = field(default_factory=dict)  # by agreement id
    denied: set[str] = field(default_factory=set)  # agreements, catalog, companies: 403
    additions_denied: set[int] = field(default_factory=set)  # agreements whose additions 403'd
    problems: list[str] = field(default_factory=list)  # reads that failed otherwise


def _failed(readings: Readings, area: str, exc: ConnectWiseError) -> None:
    if isinstance(exc, PermissionDenied) or exc.status == 403:
        readings.denied.add(area)
    else:
        readings.problems.append(f"reading {area} failed: {exc}")


def read_agreements(client, readings: Readings, ids: Iterable[int]) -> None:
    """The mapped agreements, in a few batched GETs; any failure but a 403 is raised (the
    connection itself is wrong, so nothing can be judged)."""
    try:
        readings.agreements = client.agreements_by_ids(sorted(set(ids)))
    except PermissionDenied:
        readings.denied.add("agreements")


def read_companies(client, readings: Readings, ids: Iterable[int]) -> None:
    """The mapped ConnectWise companies, deleted ones included, in batches of ids."""
    unique = sorted(set(ids))
    found: dict[int, CwCompany] = {}
    try:
        for start in range(0, len(unique), IDS_PER_REQUEST):
            batch = unique[start : start + IDS_PER_REQUEST]
            found.update(
                (c.id, c) for c in client.companies(cond.in_("id", batch)) if c.id in batch
            )
    except ConnectWiseError as exc:
        _failed(readings, "companies", exc)
        return
    readings.companies = found


def read_catalog(client, readings: Readings, ids: Iterable[int]) -> None:
    """The mapped catalog items, one GET each (a partner maps a handful of products)."""
    found: dict[int, CatalogItem | None] = {}
    for item_id in sorted(set(ids)):
        try:
            found[item_id] = client.catalog_item(item_id)
        except NotFound:
            found[item_id] = None
        except ConnectWiseError as exc:
            _failed(readings, "catalog", exc)
            return
    readings.catalog = found


def read_additions(client, readings: Readings, ids: Iterable[int], now: datetime, workers: int):
    """Each agreement's active additions, a few side by side (like a run)."""

    def read(agreement_id: int):
        try:
            listed = client.agreement_additions(agreement_id, active_at=now)
        except NotFound:
            return agreement_id, None, None  # the agreements read says it is missing
        except ConnectWiseError as exc:
            return agreement_id, None, exc
        return agreement_id, current_additions(listed, agreement_id, now), None

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for agreement_id, active, exc in pool.map(read, sorted(set(ids))):
            if active is not None:
                readings.active[agreement_id] = active
            elif exc is not None and (isinstance(exc, PermissionDenied) or exc.status == 403):
                readings.additions_denied.add(agreement_id)
            elif exc is not None:
                readings.problems.append(f"agreement {agreement_id}: {exc}")

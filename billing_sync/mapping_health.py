"""Pure: judge one mapped company's pre-flight health (green, amber, red) from plain values.

The shell (sync/health_record.py, cli `check`) reads ConnectWise and the ledger; this module
only decides. Every reason names what to fix; the level is the worst reason's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from billing_sync.connectwise.records import Addition, Agreement, CatalogItem, CwCompany

GREEN, AMBER, RED = "green", "amber", "red"
RANK = {GREEN: 0, AMBER: 1, RED: 2}
ENDS_SOON = timedelta(days=31)
# The ConnectWise security-role permission each read (and the write) needs, by name.
PERMISSIONS = {
    "agreements": "Finance > Agreements: Inquire",
    "additions": "Finance > Agreements: Inquire",
    "catalog": "Procurement > Product Catalog: Inquire",
    "companies": "Companies > Company Maintenance: Inquire",
    "write": "Finance > Agreements: Edit",
}
READS = ("agreements", "additions", "catalog", "companies")


@dataclass(frozen=True)
class Reason:
    """One thing found: how bad (level), a stable code, and a message saying what to fix."""

    level: str
    code: str
    message: str

    def to_json(self) -> dict[str, str]:
        """The stored and printed form."""
        return {"level": self.level, "code": self.code, "message": self.message}


@dataclass(frozen=True)
class Facts:
    """The agreement's billing facts, kept beside the verdict for the company page."""

    agreement_status: str | None = None
    agreement_type: str | None = None
    billing_cycle: str | None = None
    bill_start_date: date | None = None
    next_invoice_date: date | None = None
    prorate_flag: bool | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON values (dates as ISO strings)."""
        return {
            "agreement_status": self.agreement_status,
            "agreement_type": self.agreement_type,
            "billing_cycle": self.billing_cycle,
            "bill_start_date": _iso(self.bill_start_date),
            "next_invoice_date": _iso(self.next_invoice_date),
            "prorate_flag": self.prorate_flag,
        }


@dataclass(frozen=True)
class Verdict:
    """A mapped company's health: the worst level, every reason worst first, and the facts."""

    level: str
    reasons: tuple[Reason, ...]
    facts: Facts

    @property
    def first(self) -> Reason | None:
        """The reason shown on the company row."""
        return self.reasons[0] if self.reasons else None


@dataclass(frozen=True)
class Observed:
    """What was read about one mapped company; None/absent means "not read", not "missing".

    `agreement_found` False means the agreements read answered without it (it does not exist).
    """

    agreement_id: int
    cw_company_id: int
    agreement: Agreement | None = None
    agreement_found: bool | None = None  # None: the agreements were not read
    company: CwCompany | None = None
    company_found: bool | None = None  # None: the companies were not read
    catalog: Mapping[int, CatalogItem | None] = field(default_factory=dict)  # None: not found
    products: Mapping[int, str] = field(default_factory=dict)  # catalog item id -> vendor code
    active: tuple[Addition, ...] | None = None  # the agreement's active additions, when read
    denied: frozenset[str] = frozenset()  # reads (READS) that answered 403
    write_refused: bool = False  # the latest write for this company answered 403


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _day(value: datetime | date | None) -> date | None:
    return value.date() if isinstance(value, datetime) else value


def facts_of(agreement: Agreement | None) -> Facts:
    """The billing facts of an agreement (empty when it was not read or not found)."""
    if agreement is None:
        return Facts()
    return Facts(
        agreement.agreement_status,
        agreement.type_name,
        agreement.billing_cycle,
        _day(agreement.bill_start_date),
        agreement.next_invoice_date,
        agreement.prorate_flag,
    )


def _permission_reasons(seen: Observed) -> list[Reason]:
    reasons = []
    for read in READS:
        if read in seen.denied:
            reasons.append(
                Reason(
                    RED,
                    f"permission_{read}",
                    f"ConnectWise refused to list {read} (403): give the API member's security "
                    f'role "{PERMISSIONS[read]}"',
                )
            )
    if seen.write_refused:
        reasons.append(
            Reason(
                RED,
                "permission_write",
                "ConnectWise refused the last write (403): give the API member's security role "
                f'"{PERMISSIONS["write"]}"',
            )
        )
    return reasons


def _agreement_reasons(seen: Observed, now: datetime) -> list[Reason]:
    agreement = seen.agreement
    if seen.agreement_found is False or (seen.agreement_found and agreement is None):
        return [
            Reason(
                RED,
                "agreement_missing",
                f"agreement {seen.agreement_id} does not exist in ConnectWise: map an agreement",
            )
        ]
    if agreement is None:
        return []
    reasons = []
    if agreement.company_id != seen.cw_company_id:
        reasons.append(
            Reason(
                RED,
                "agreement_other_company",
                f"agreement {agreement.id} ({agreement.name}) belongs to ConnectWise company "
                f"{agreement.company_id}, not the mapped company {seen.cw_company_id}",
            )
        )
    if inactive := agreement.inactive_reason(now):
        reasons.append(
            Reason(
                RED,
                "agreement_inactive",
                f"agreement {agreement.id} ({agreement.name}) is {inactive}: nothing is billed",
            )
        )
        return reasons  # an ended agreement's dates say nothing more
    return reasons + _billing_reasons(agreement, now)


def _billing_reasons(agreement: Agreement, now: datetime) -> list[Reason]:
    """Amber: what makes the next invoice surprising (not started, cycle, invoice date, end)."""
    reasons = []
    starts = [d for d in (agreement.start_date, agreement.bill_start_date) if d and d > now]
    if starts:
        when = max(starts)
        reasons.append(
            Reason(
                AMBER, "not_started", f"the agreement has not started: bills from {when:%Y-%m-%d}"
            )
        )
    cycle = agreement.billing_cycle
    if cycle and cycle.casefold() != "monthly":
        reasons.append(
            Reason(
                AMBER,
                "billing_cycle",
                f"billing cycle is {cycle}, not Monthly: month-end counts reach the customer "
                f"at the {cycle.lower()} invoice",
            )
        )
    invoice = agreement.next_invoice_date
    if invoice is None:
        reasons.append(Reason(AMBER, "no_next_invoice", "no next invoice date in ConnectWise"))
    elif invoice < now.date():
        reasons.append(
            Reason(
                AMBER,
                "next_invoice_past",
                f"the next invoice date {invoice:%Y-%m-%d} is in the past: invoicing looks stalled",
            )
        )
    end = None if agreement.no_ending_date_flag else _day(agreement.end_date)
    if end is not None and (end <= now.date() + ENDS_SOON or (invoice and end < invoice)):
        reasons.append(
            Reason(
                AMBER,
                "ends_soon",
                f"the agreement ends on {end:%Y-%m-%d}"
                + (" before its next invoice" if invoice and end < invoice else "")
                + ": renew it or map its successor",
            )
        )
    return reasons


def _company_reasons(seen: Observed) -> list[Reason]:
    if seen.company_found is False or (seen.company is not None and seen.company.deleted):
        return [
            Reason(
                RED,
                "company_deleted",
                f"ConnectWise company {seen.cw_company_id} is deleted: map an existing company",
            )
        ]
    return []


def _catalog_reasons(seen: Observed) -> list[Reason]:
    reasons = []
    for cw_id, item in sorted(seen.catalog.items()):
        code = seen.products.get(cw_id, str(cw_id))
        if item is None:
            message = f"catalog item {cw_id} ({code}) does not exist in ConnectWise: re-map it"
            reasons.append(Reason(RED, "catalog_missing", message))
        elif item.inactive:
            message = f"catalog item {item.identifier} ({code}) is inactive: activate or re-map it"
            reasons.append(Reason(RED, "catalog_inactive", message))
        elif item.is_bundle:
            message = (
                f"catalog item {item.identifier} ({code}) is a bundle; bundles cannot be "
                "agreement additions: map a non-bundle item"
            )
            reasons.append(Reason(RED, "catalog_bundle", message))
    return reasons


def _duplicate_reasons(seen: Observed) -> list[Reason]:
    if seen.active is None:
        return []
    reasons = []
    for cw_id in sorted(seen.products):
        ids = sorted(a.id for a in seen.active if a.product_id == cw_id)
        if len(ids) > 1:
            reasons.append(
                Reason(
                    RED,
                    "duplicate_additions",
                    f"additions {', '.join(map(str, ids))} all carry {seen.products[cw_id]}: "
                    "cancel all but one in ConnectWise",
                )
            )
    return reasons


def worst(levels: Iterable[str]) -> str:
    """The worst of some levels (green when there are none)."""
    return max(levels, key=RANK.__getitem__, default=GREEN)


def judge(seen: Observed, now: datetime) -> Verdict:
    """Every reason found for one mapped company at `now`, worst first, and its facts."""
    reasons = (
        _permission_reasons(seen)
        + _agreement_reasons(seen, now)
        + _company_reasons(seen)
        + _catalog_reasons(seen)
        + _duplicate_reasons(seen)
    )
    ordered = tuple(sorted(reasons, key=lambda r: -RANK[r.level]))  # stable: same level, same order
    return Verdict(worst(r.level for r in ordered), ordered, facts_of(seen.agreement))

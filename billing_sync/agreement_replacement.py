"""Agreement replacement: when a mapped agreement ended, the company's one newer active agreement.

The rule is pure (`find_replacement`); `record_findings` and `refresh_stale` write suggestions
(never the mapping). Accepting one re-points the mapping through mappings.save_mapping
(agreement_suggestions.py); nothing changes silently.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_sync.connectwise.records import Agreement
from billing_sync.models import AgreementReplacement, CompanyMapping
from billing_sync.text import clip_optional

CHOOSE = "{n} active agreements: choose one on the company page"
CREATE = "no active agreement: create one"
# A run item's advice when its agreement ended (sync/agreement_checks.py; the dashboard counts it).
ENDED_ADVICE = (
    "Re-activate the agreement in ConnectWise or open Company mappings and choose an active "
    "agreement of the right ConnectWise company."
)


@dataclass(frozen=True)
class Finding:
    """What the rule says about one mapped company whose agreement ended."""

    company_id: int
    old: Agreement
    old_reason: str
    new: Agreement | None  # the one candidate, or None
    reason: str  # why there is (no) suggestion


def _newer(candidate: Agreement, old: Agreement) -> bool:
    """Later start date; by id when either start date is missing (ids grow with time)."""
    if candidate.start_date is not None and old.start_date is not None:
        return candidate.start_date > old.start_date
    return candidate.id > old.id


def _same_type(candidate: Agreement, old: Agreement) -> bool:
    if candidate.type_name and old.type_name:
        return candidate.type_name.casefold() == old.type_name.casefold()
    return True  # types not set on one side: type says nothing


def find_replacement(
    company_id: int, old: Agreement, agreements: Iterable[Agreement], now: datetime
) -> Finding | None:
    """Pure: None while `old` is active; else the single newer active same-type agreement."""
    old_reason = old.inactive_reason(now)
    if old_reason is None:
        return None
    candidates = sorted(
        (
            a
            for a in agreements
            if a.id != old.id
            and a.company_id == old.company_id
            and a.inactive_reason(now) is None
            and _newer(a, old)
            and _same_type(a, old)
        ),
        key=lambda a: a.id,
    )
    if len(candidates) == 1:
        return Finding(company_id, old, old_reason, candidates[0], "one newer active agreement")
    reason = CHOOSE.format(n=len(candidates)) if candidates else CREATE
    return Finding(company_id, old, old_reason, None, reason)


def ended_findings(
    mapped: dict[int, Agreement], company_agreements: Iterable[Agreement], now: datetime
) -> list[Finding]:
    """Pure: the rule for every mapped company (id -> its agreement) whose agreement ended."""
    by_company: dict[int, list[Agreement]] = defaultdict(list)
    for agreement in company_agreements:
        by_company[agreement.company_id].append(agreement)
    found = []
    for company_id, old in sorted(mapped.items()):
        finding = find_replacement(company_id, old, by_company.get(old.company_id, []), now)
        if finding is not None:
            found.append(finding)
    return found


def record_findings(
    session: Session, partner_id: int, findings: list[Finding], now: datetime
) -> int:
    """Add an open suggestion per finding with a candidate; returns how many are open now.

    A pair seen before keeps its row: a dismissed or accepted one stays so, a stale one reopens.
    """
    wanted = [f for f in findings if f.new is not None]
    if not wanted:
        return 0
    rows = session.scalars(
        select(AgreementReplacement).where(
            AgreementReplacement.partner_id == partner_id,
            AgreementReplacement.company_id.in_({f.company_id for f in wanted}),
        )
    )
    known = {(r.company_id, r.old_agreement_id, r.new_agreement_id): r for r in rows}
    opened = 0
    for finding in wanted:
        row = known.get((finding.company_id, finding.old.id, finding.new.id))
        if row is None:
            session.add(_row(partner_id, finding, now))
        elif row.status == "stale":
            row.status = "open"
        elif row.status != "open":
            continue
        opened += 1
    session.flush()
    return opened


def _row(partner_id: int, finding: Finding, now: datetime) -> AgreementReplacement:
    return AgreementReplacement(
        partner_id=partner_id,
        company_id=finding.company_id,
        old_agreement_id=finding.old.id,
        old_agreement_name=clip_optional(finding.old.name, 255),
        old_reason=clip_optional(finding.old_reason, 255),
        new_agreement_id=finding.new.id,
        new_agreement_name=clip_optional(finding.new.name, 255),
        status="open",
        created_at=now,
    )


def refresh_stale(
    session: Session, partner_id: int, seen: dict[int, Agreement] | None, now: datetime
) -> int:
    """Mark open suggestions stale: the mapping moved, or the old agreement (as `seen`) is back."""
    rows = session.execute(
        select(AgreementReplacement, CompanyMapping)
        .outerjoin(CompanyMapping, CompanyMapping.company_id == AgreementReplacement.company_id)
        .where(AgreementReplacement.partner_id == partner_id, AgreementReplacement.status == "open")
    ).all()
    staled = 0
    for row, mapping in rows:
        moved = (
            mapping is None
            or mapping.status != "mapped"
            or mapping.agreement_id != row.old_agreement_id
        )
        old = (seen or {}).get(row.old_agreement_id)
        if moved or (old is not None and old.inactive_reason(now) is None):
            row.status = "stale"
            staled += 1
    session.flush()
    return staled

"""Replacement suggestions in use: found on every run and on demand, accepted or dismissed."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from billing_sync.agreement_replacement import (
    ENDED_ADVICE,
    Finding,
    ended_findings,
    record_findings,
    refresh_stale,
)
from billing_sync.connectwise.records import Agreement
from billing_sync.errors import Conflict, InvalidInput, NotFoundError
from billing_sync.mappings import get_company, get_mapping, save_mapping
from billing_sync.models import AgreementReplacement, Company, CompanyMapping, Run, RunItem
from billing_sync.text import clip_optional

log = logging.getLogger(__name__)


def _ended(mapped: dict[int, tuple[int, Agreement | None]], now: datetime) -> dict[int, Agreement]:
    """company id -> its agreement, for agreements that exist, are its CW company's, and ended."""
    return {
        company_id: agreement
        for company_id, (cw_company_id, agreement) in mapped.items()
        if agreement is not None
        and agreement.company_id == cw_company_id
        and agreement.inactive_reason(now) is not None
    }


def review(
    session: Session,
    partner_id: int,
    mapped: dict[int, tuple[int, Agreement | None]],
    client,
    now: datetime,
) -> list[Finding]:
    """Stale-mark, then one grouped read of the ended agreements' companies, then suggest."""
    seen = {a.id: a for _cw, a in mapped.values() if a is not None}
    refresh_stale(session, partner_id, seen, now)
    ended = _ended(mapped, now)
    if not ended:
        return []
    listed = client.agreements_of_companies({a.company_id for a in ended.values()})
    findings = ended_findings(ended, listed, now)
    record_findings(session, partner_id, findings, now)
    return findings


def detect_in_run(
    factory: sessionmaker[Session], partner_id: int, targets: Iterable, found: dict, client, now
) -> None:
    """After a run read its agreements: suggest replacements; never fails the run."""
    mapped = {t.company_id: (t.cw_company_id, found.get(t.agreement_id)) for t in targets}
    if not hasattr(client, "agreements_of_companies"):
        return  # a reduced test client: the run itself needs only AgreementBilling
    try:
        with factory.begin() as session:
            review(session, partner_id, mapped, client, now)
    except Exception:  # noqa: BLE001 - a suggestion is advice; the run's own outcome stands
        log.warning("could not look for replacement agreements", exc_info=True)


def _mapped_rows(session: Session, partner_id: int) -> list[tuple[int, int, int]]:
    return list(
        session.execute(
            select(
                CompanyMapping.company_id, CompanyMapping.cw_company_id, CompanyMapping.agreement_id
            ).where(
                CompanyMapping.partner_id == partner_id,
                CompanyMapping.status == "mapped",
                CompanyMapping.agreement_id.is_not(None),
            )
        ).all()
    )


def suggest_now(session: Session, partner_id: int, client, now: datetime) -> list[Finding]:
    """On demand (the CLI): read every mapped agreement in batches, then review them."""
    rows = _mapped_rows(session, partner_id)
    found = client.agreements_by_ids({agreement_id for _c, _cw, agreement_id in rows})
    mapped = {company: (cw, found.get(agreement_id)) for company, cw, agreement_id in rows}
    return review(session, partner_id, mapped, client, now)


def get_suggestion(session: Session, partner_id: int, suggestion_id: int) -> AgreementReplacement:
    """A partner's suggestion by id; another partner's answers NotFoundError."""
    row = session.get(AgreementReplacement, suggestion_id)
    if row is None or row.partner_id != partner_id:
        raise NotFoundError(f"no replacement suggestion {suggestion_id}")
    return row


def _checked_new(client, mapping: CompanyMapping, agreement_id: int, now: datetime) -> Agreement:
    """The new agreement as ConnectWise shows it now: present, the same company, active."""
    agreement = client.agreements_by_ids([agreement_id]).get(agreement_id)
    if agreement is None:
        raise InvalidInput(f"agreement {agreement_id} does not exist in ConnectWise")
    if agreement.company_id != mapping.cw_company_id:
        raise InvalidInput(
            f"agreement {agreement_id} belongs to ConnectWise company {agreement.company_id}, "
            f"not the mapped company {mapping.cw_company_id}"
        )
    return agreement  # save_mapping refuses an inactive one, and one another company holds


def accept(
    session: Session, client, partner_id: int, suggestion_id: int, *, user: str, now: datetime
) -> AgreementReplacement:
    """Re-point the mapping to the suggested agreement (re-read first), recorded."""
    row = get_suggestion(session, partner_id, suggestion_id)
    if row.status != "open":
        raise Conflict(f"suggestion {suggestion_id} is {row.status}, not open")
    company = session.get(Company, row.company_id)
    mapping = get_mapping(session, company)
    mapped = mapping is not None and mapping.status == "mapped"
    if not mapped or mapping.agreement_id != row.old_agreement_id:
        row.status = "stale"
        session.flush()
        raise Conflict(
            f"{company.name} is no longer mapped to agreement {row.old_agreement_id}; "
            "the suggestion is stale"
        )
    agreement = _checked_new(client, mapping, row.new_agreement_id, now)
    save_mapping(session, company, mapping.cw_company_id, agreement, matched_by="manual", now=now)
    _decide(row, "accepted", user, now)
    row.new_agreement_name = clip_optional(agreement.name, 255)
    session.flush()
    return row


def replace_to(
    session: Session, client, partner_id: int, external_id: str, to: int, *, user: str, now
) -> AgreementReplacement:
    """Re-point a company to agreement `to` (the CLI), accepting or recording the suggestion."""
    company = get_company(session, partner_id, external_id)
    mapping = get_mapping(session, company)
    if mapping is None or mapping.status != "mapped" or mapping.agreement_id is None:
        raise InvalidInput(f"{company.name} is not mapped to an agreement")
    if mapping.agreement_id == to:
        raise InvalidInput(f"{company.name} is already mapped to agreement {to}")
    key = (company.id, mapping.agreement_id, to)
    row = session.scalar(
        select(AgreementReplacement).where(
            AgreementReplacement.company_id == key[0],
            AgreementReplacement.old_agreement_id == key[1],
            AgreementReplacement.new_agreement_id == key[2],
        )
    )
    if row is None:
        row = AgreementReplacement(
            partner_id=partner_id,
            company_id=company.id,
            old_agreement_id=mapping.agreement_id,
            old_agreement_name=mapping.agreement_name,
            new_agreement_id=to,
            status="open",
            created_at=now,
        )
        session.add(row)
    agreement = _checked_new(client, mapping, to, now)
    save_mapping(session, company, mapping.cw_company_id, agreement, matched_by="manual", now=now)
    row.new_agreement_name = clip_optional(agreement.name, 255)
    _decide(row, "accepted", user, now)
    session.flush()
    return row


def dismiss(
    session: Session, partner_id: int, suggestion_id: int, *, user: str, now: datetime
) -> AgreementReplacement:
    """Dismiss an open suggestion: that pair is not suggested again."""
    row = get_suggestion(session, partner_id, suggestion_id)
    if row.status != "open":
        raise Conflict(f"suggestion {suggestion_id} is {row.status}, not open")
    _decide(row, "dismissed", user, now)
    session.flush()
    return row


def _decide(row: AgreementReplacement, status: str, user: str, now: datetime) -> None:
    row.status = status
    row.decided_by = clip_optional(user, 255)
    row.decided_at = now


def open_for_company(session: Session, company_id: int) -> AgreementReplacement | None:
    """The company's open suggestion, newest first (one is shown at a time)."""
    return session.scalar(
        select(AgreementReplacement)
        .where(AgreementReplacement.company_id == company_id, AgreementReplacement.status == "open")
        .order_by(AgreementReplacement.id.desc())
        .limit(1)
    )


@dataclass(frozen=True)
class EndedSummary:
    """The dashboard line: mapped agreements the last run found ended, and open suggestions."""

    ended: int
    suggested: int


def ended_summary(session: Session, partner_id: int) -> EndedSummary:
    """Two grouped queries: ended agreements in the last finished real run, open suggestions."""
    last = (
        select(func.max(Run.id))
        .where(Run.partner_id == partner_id, Run.dry_run.is_(False), Run.finished_at.is_not(None))
        .scalar_subquery()
    )
    ended = session.scalar(
        select(func.count(func.distinct(RunItem.company_id))).where(
            RunItem.run_id == last, RunItem.advice == ENDED_ADVICE
        )
    )
    suggested = session.scalar(
        select(func.count(AgreementReplacement.id)).where(
            AgreementReplacement.partner_id == partner_id, AgreementReplacement.status == "open"
        )
    )
    return EndedSummary(ended or 0, suggested or 0)

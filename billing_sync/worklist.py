"""The unmatched worklist's actions: accept a suggestion, choose a company, bulk accept, exclude.

Every mapping goes through `save_mapping`, after the agreement is read back from ConnectWise:
the cache says which agreement a match would use, ConnectWise says whether it still may.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_sync.errors import InvalidInput, NotFoundError
from billing_sync.mappings import exclude_company, save_mapping
from billing_sync.models import Company, CompanyMapping, CwCompanyCache, MatchSuggestion
from billing_sync.validation import record_id, shown

DEFAULT_MIN_SCORE = 90  # bulk accept's default: similar names this close are one typo apart
BULK_LIMIT = 500  # mappings one bulk accept makes: its agreement reads fit in a page's wait
MAX_SELECTED = 500  # checkboxes one exclusion takes (a page shows 50)
PICKED_ID = re.compile(r"\(#(\d{1,18})\)\s*$")  # "Name (#123)", as the picker's options read


def cached_company(session: Session, partner_id: int, cw_company_id: int) -> CwCompanyCache:
    """A ConnectWise company from the partner's cached list, or InvalidInput."""
    row = session.scalar(
        select(CwCompanyCache).where(
            CwCompanyCache.partner_id == partner_id,
            CwCompanyCache.cw_company_id == cw_company_id,
        )
    )
    if row is None:
        raise InvalidInput(
            f"ConnectWise company {cw_company_id} is not in the company list read from "
            "ConnectWise: refresh the suggestions, or search on the company's page"
        )
    return row


def picked_company(session: Session, partner_id: int, picked: str) -> CwCompanyCache:
    """The cached CW company a picker's text names: "Name (#id)", or a unique exact name."""
    text = picked.strip()
    if not text:
        raise InvalidInput("Type or choose a ConnectWise company first.")
    found = PICKED_ID.search(text)
    if found:
        return cached_company(session, partner_id, record_id(found.group(1), "company"))
    rows = session.scalars(
        select(CwCompanyCache)
        .where(CwCompanyCache.partner_id == partner_id, CwCompanyCache.name == text)
        .limit(2)
    ).all()
    if len(rows) != 1:
        how = "several are" if rows else "none is"
        raise InvalidInput(f"{how} called {shown(text)}: choose a company from the list")
    return rows[0]


def map_to_cached(
    session: Session,
    company: Company,
    cw: CwCompanyCache,
    client,
    *,
    matched_by: str,
    now: datetime,
) -> CompanyMapping | None:
    """Map onto the CW company's one active agreement; None when it has not exactly one."""
    if cw.agreement_id is None:
        return None
    agreement = client.agreements_by_ids([cw.agreement_id]).get(cw.agreement_id)
    if agreement is None:
        raise InvalidInput(f"agreement {cw.agreement_id} no longer exists in ConnectWise")
    return save_mapping(
        session, company, cw.cw_company_id, agreement, matched_by=matched_by, now=now
    )


def current_suggestion(session: Session, company: Company, cw_company_id: int) -> MatchSuggestion:
    """The company's suggestion, if it still names this CW company; else InvalidInput."""
    suggestion = session.scalar(
        select(MatchSuggestion).where(MatchSuggestion.company_id == company.id)
    )
    if suggestion is None or suggestion.cw_company_id != cw_company_id:
        raise InvalidInput(
            f"The suggestion for {company.name} has changed since the page was shown: "
            "look at it again"
        )
    return suggestion


def _companies(n: int) -> str:
    return f"{n} company" if n == 1 else f"{n} companies"


@dataclass
class BulkOutcome:
    """What a bulk accept did: companies mapped, and why the others were skipped."""

    mapped: list[str] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)  # reason -> companies

    def message(self, min_score: int) -> str:
        """One flash line: mapped and skipped counts with the reasons."""
        text = f"Mapped {_companies(len(self.mapped))} by suggestion (score {min_score} or more)."
        if self.skipped:
            reasons = "; ".join(f"{n} {why}" for why, n in self.skipped.most_common())
            text += f" Skipped {sum(self.skipped.values())}: {reasons}."
        return text


@dataclass(frozen=True)
class Candidate:
    """A suggestion a bulk accept looks at, with what the cache and mappings say about it."""

    company_id: int
    ties: int
    cw_company_id: int
    agreement_id: int | None
    active_agreements: int
    taken: bool  # the CW company is already mapped to another vendor company


def skip_reason(candidate: Candidate) -> str | None:
    """Pure: why a bulk accept must leave this suggestion to a person, or None."""
    if candidate.ties > 1:
        return "with several ConnectWise companies equally close"
    if candidate.taken:
        return "whose ConnectWise company is already mapped to another company"
    if candidate.agreement_id is None:
        if candidate.active_agreements == 0:
            return "with no active agreement"
        return "with several active agreements (choose one)"
    return None


def _candidates(session: Session, partner_id: int, min_score: int) -> list[Candidate]:
    taken = set(
        session.scalars(
            select(CompanyMapping.cw_company_id).where(
                CompanyMapping.partner_id == partner_id, CompanyMapping.status == "mapped"
            )
        )
    )
    rows = session.execute(
        select(
            MatchSuggestion.company_id,
            MatchSuggestion.ties,
            CwCompanyCache.cw_company_id,
            CwCompanyCache.agreement_id,
            CwCompanyCache.active_agreements,
        )
        .join(
            CwCompanyCache,
            (CwCompanyCache.partner_id == MatchSuggestion.partner_id)
            & (CwCompanyCache.cw_company_id == MatchSuggestion.cw_company_id),
        )
        .outerjoin(CompanyMapping, CompanyMapping.company_id == MatchSuggestion.company_id)
        .where(
            MatchSuggestion.partner_id == partner_id,
            MatchSuggestion.score >= min_score,
            CompanyMapping.id.is_(None),
        )
        .order_by(MatchSuggestion.company_id)
    )
    return [Candidate(*row[:5], taken=row[2] in taken) for row in rows]


def preview_accept(session: Session, partner_id: int, min_score: int) -> BulkOutcome:
    """What a bulk accept at `min_score` would do, by the cache (ConnectWise has the last say)."""
    preview = BulkOutcome()
    for candidate in _candidates(session, partner_id, min_score):
        reason = skip_reason(candidate)
        if reason:
            preview.skipped[reason] += 1
        else:
            preview.mapped.append(str(candidate.company_id))
    return preview


def accept_suggestions(
    session: Session, partner_id: int, client, *, min_score: int, now: datetime
) -> BulkOutcome:
    """Map every unmatched company whose suggestion scores >= min_score and is unambiguous."""
    if not 50 <= min_score <= 100:
        raise InvalidInput("The score must be a whole number from 50 to 100.")
    outcome = BulkOutcome()
    ready = []
    for candidate in _candidates(session, partner_id, min_score):
        reason = skip_reason(candidate)
        if reason:
            outcome.skipped[reason] += 1
        elif len(ready) >= BULK_LIMIT:
            outcome.skipped[f"over {BULK_LIMIT} at once (accept again)"] += 1
        else:
            ready.append(candidate)
    agreements = client.agreements_by_ids(c.agreement_id for c in ready) if ready else {}
    companies = {
        c.id: c
        for c in session.scalars(
            select(Company).where(Company.id.in_([c.company_id for c in ready]))
        )
    }
    for candidate in ready:
        company = companies[candidate.company_id]
        agreement = agreements.get(candidate.agreement_id)
        if agreement is None:
            outcome.skipped["whose agreement is gone from ConnectWise"] += 1
            continue
        try:
            # save_mapping checks everything before it writes: a refusal leaves nothing behind.
            save_mapping(
                session,
                company,
                candidate.cw_company_id,
                agreement,
                matched_by="suggestion",
                now=now,
            )
        except InvalidInput:
            outcome.skipped["refused (agreement inactive or already carrying a company)"] += 1
            continue
        outcome.mapped.append(company.name)
    return outcome


def exclude_companies(
    session: Session, partner_id: int, raw_ids: list[str], *, now: datetime
) -> list[Company]:
    """Exclude the chosen companies, all or none: an id that is not the partner's is NotFound."""
    if len(raw_ids) > MAX_SELECTED:
        raise InvalidInput(f"Select at most {MAX_SELECTED} companies at once.")
    ids = {record_id(raw.strip(), "company") for raw in raw_ids}
    if not ids:
        raise InvalidInput("Select the companies to exclude first.")
    companies = list(
        session.scalars(
            select(Company).where(Company.partner_id == partner_id, Company.id.in_(ids))
        )
    )
    if len(companies) != len(ids):
        raise NotFoundError("some of the selected companies do not exist")
    for company in companies:
        exclude_company(session, company, now=now)
    return companies

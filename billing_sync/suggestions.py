"""Match suggestions: which ConnectWise company each unmatched vendor company most likely is.

Suggestions are ranked here from the cached ConnectWise company list (`refresh_suggestions`
reads ConnectWise once: every company, every active agreement) and stored, so a page view only
reads them. Only identical and punctuation-normalised names count as sure; a similar name
carries its score and always waits for an admin's click.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from rapidfuzz import fuzz, process
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from billing_sync.connectwise import conditions as cond
from billing_sync.mappings import unmatched_companies
from billing_sync.models import CwCompanyCache, MatchRejection, MatchSuggestion

MIN_SCORE = 70  # below this a "similar" name is noise, not a suggestion
NAME_LENGTH = 255  # the cache's name columns
REASONS = {
    "identical": "identical name",
    "normalised": "same name ignoring case and punctuation",
    "similar": "similar name",
}


def explain(reason: str, score: int) -> str:
    """Why a company is suggested, as the worklist says it: "similar name (score 86)"."""
    return f"{REASONS[reason]} (score {score})" if reason == "similar" else REASONS[reason]


def name_key(name: str) -> str:
    """Case-folded, punctuation and symbols as spaces, whitespace collapsed."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    kept = "".join(ch if unicodedata.category(ch)[0] in "LN" else " " for ch in folded)
    return " ".join(kept.split())


@dataclass(frozen=True)
class CwChoice:
    """A ConnectWise company a vendor company may be matched to."""

    id: int
    name: str


@dataclass(frozen=True)
class Suggestion:
    """The best ConnectWise company for one vendor company, why, and how many tie with it."""

    company_id: int
    cw_company_id: int
    reason: str  # identical | normalised | similar
    score: int
    ties: int = 1

    @property
    def explanation(self) -> str:
        """Why it is suggested, as the worklist says it."""
        return explain(self.reason, self.score)


def _best(
    company_id: int, found: list[CwChoice], refused: set[int], reason: str, score: int
) -> Suggestion | None:
    """The lowest-id CW company not refused, counting how many tie with it."""
    allowed = [c for c in found if c.id not in refused]
    if not allowed:
        return None
    first = min(allowed, key=lambda c: c.id)
    return Suggestion(company_id, first.id, reason, score, ties=len(allowed))


def rank_suggestions(
    vendor: dict[int, str],
    cw_companies: Iterable[CwChoice],
    rejected: dict[int, set[int]],
    *,
    min_score: int = MIN_SCORE,
) -> list[Suggestion]:
    """Pure: per vendor company the identical, else normalised, else most similar CW company.

    A rejected (vendor company, CW company) pair is never suggested.
    """
    choices = list(cw_companies)
    exact: dict[str, list[CwChoice]] = defaultdict(list)
    by_key: dict[str, list[CwChoice]] = defaultdict(list)
    for choice in choices:
        exact[choice.name.strip()].append(choice)
        by_key[name_key(choice.name)].append(choice)
    keys = [name_key(c.name) for c in choices]
    suggestions = []
    for company_id, name in sorted(vendor.items()):
        refused = rejected.get(company_id, set())
        suggestion = _best(company_id, exact.get(name.strip(), []), refused, "identical", 100)
        key = name_key(name)
        if suggestion is None and key:
            suggestion = _best(company_id, by_key.get(key, []), refused, "normalised", 100)
        if suggestion is None and key:
            suggestion = _similar(company_id, key, keys, choices, refused, min_score)
        if suggestion is not None:
            suggestions.append(suggestion)
    return suggestions


def _similar(
    company_id: int,
    key: str,
    keys: list[str],
    choices: list[CwChoice],
    refused: set[int],
    min_score: int,
) -> Suggestion | None:
    # token_sort_ratio forgives word order ("Dental Acme") but not a missing word: a partial
    # scorer would rate "Acme" 90 against "Acme Dental Group", too close for bulk accept.
    found = process.extract(
        key,
        keys,
        scorer=fuzz.token_sort_ratio,
        score_cutoff=min_score,
        limit=len(refused) + 10,
    )
    scored = [(round(score), choices[index]) for _, score, index in found]
    scored = [(score, c) for score, c in scored if c.id not in refused]
    if not scored:
        return None
    top = max(score for score, _ in scored)
    return _best(company_id, [c for score, c in scored if score == top], refused, "similar", top)


@dataclass(frozen=True)
class CachedCompany:
    """A ConnectWise company with its active agreements as the cache keeps it."""

    cw_company_id: int
    name: str
    identifier: str | None
    active_agreements: int
    agreement_id: int | None
    agreement_name: str | None


def read_connectwise(client, now: datetime) -> list[CachedCompany]:
    """Every non-deleted CW company and its active agreements: two listings, never one per row."""
    companies = list(client.companies(conditions=cond.eq("deletedFlag", False)))
    active: dict[int, list] = defaultdict(list)
    for agreement in client.agreements(cond.eq("cancelledFlag", False)):
        if agreement.inactive_reason(now) is None:
            active[agreement.company_id].append(agreement)
    cached = []
    for company in companies:
        if company.deleted:
            continue
        agreements = active.get(company.id, [])
        only = agreements[0] if len(agreements) == 1 else None
        cached.append(
            CachedCompany(
                company.id,
                company.name[:NAME_LENGTH],
                (company.identifier or "")[:NAME_LENGTH] or None,
                len(agreements),
                only.id if only else None,
                only.name[:NAME_LENGTH] if only else None,
            )
        )
    return cached


def store_cw_companies(
    session: Session, partner_id: int, companies: list[CachedCompany], now: datetime
) -> None:
    """Replace the partner's cached ConnectWise company list."""
    session.execute(delete(CwCompanyCache).where(CwCompanyCache.partner_id == partner_id))
    if companies:
        session.execute(
            insert(CwCompanyCache),
            [{"partner_id": partner_id, "fetched_at": now, **vars(c)} for c in companies],
        )


def _rejections(session: Session, partner_id: int) -> dict[int, set[int]]:
    rows = session.execute(
        select(MatchRejection.company_id, MatchRejection.cw_company_id).where(
            MatchRejection.partner_id == partner_id
        )
    )
    rejected: dict[int, set[int]] = defaultdict(set)
    for company_id, cw_company_id in rows:
        rejected[company_id].add(cw_company_id)
    return rejected


def recompute_suggestions(
    session: Session, partner_id: int, now: datetime, company_ids: set[int] | None = None
) -> int:
    """Rank unmatched companies (all, or these) against the cache and store; returns how many."""
    vendor = unmatched_companies(session, partner_id)
    if company_ids is not None:
        vendor = {cid: name for cid, name in vendor.items() if cid in company_ids}
    cached = session.execute(
        select(CwCompanyCache.cw_company_id, CwCompanyCache.name).where(
            CwCompanyCache.partner_id == partner_id
        )
    )
    choices = [CwChoice(cw_id, name) for cw_id, name in cached]
    ranked = rank_suggestions(vendor, choices, _rejections(session, partner_id))
    stale = delete(MatchSuggestion).where(MatchSuggestion.partner_id == partner_id)
    if company_ids is not None:
        stale = stale.where(MatchSuggestion.company_id.in_(company_ids))
    session.execute(stale)
    if ranked:
        session.execute(
            insert(MatchSuggestion),
            [{"partner_id": partner_id, "computed_at": now, **vars(s)} for s in ranked],
        )
    return len(ranked)


def refresh_suggestions(
    session: Session, partner_id: int, client, *, now: datetime
) -> tuple[int, int]:
    """Read ConnectWise once, cache its companies, rank every unmatched one: (cached, ranked)."""
    companies = read_connectwise(client, now)
    store_cw_companies(session, partner_id, companies, now)
    return len(companies), recompute_suggestions(session, partner_id, now)


def reject_suggestion(
    session: Session, partner_id: int, company_id: int, cw_company_id: int, *, now: datetime
) -> None:
    """Remember "not this one" and suggest the next best company instead."""
    known = session.scalar(
        select(MatchRejection.id).where(
            MatchRejection.company_id == company_id, MatchRejection.cw_company_id == cw_company_id
        )
    )
    if known is None:
        session.add(
            MatchRejection(
                partner_id=partner_id,
                company_id=company_id,
                cw_company_id=cw_company_id,
                created_at=now,
            )
        )
        session.flush()
    recompute_suggestions(session, partner_id, now, {company_id})

"""What the company worklist reads: unmatched rows with suggestions, problems, picker options."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from billing_sync.models import (
    Company,
    CompanyMapping,
    CwCompanyCache,
    MatchSuggestion,
    Run,
    RunItem,
)
from billing_sync.page_queries import (
    COMPANY_ROW,
    Page,
    company_filter,
    with_mapping,
    with_sync_status,
)
from billing_sync.suggestions import explain
from billing_sync.sync.handle import PICKED_TRIGGERS

MAX_LISTED_IDS = 500  # past this many ids, reading all the partner's mappings is cheaper


@dataclass(frozen=True)
class WorklistRow:
    """An unmatched company with the ConnectWise company suggested for it, if any."""

    company_id: int
    external_id: str
    name: str
    cw_company_id: int | None = None
    cw_company_name: str | None = None
    reason: str | None = None
    score: int | None = None
    ties: int = 1
    agreement_id: int | None = None
    agreement_name: str | None = None
    active_agreements: int = 0
    taken_by: str | None = None  # the vendor company already mapped to that CW company

    @property
    def explanation(self) -> str:
        """Why it is suggested, e.g. "similar name (score 86)"."""
        return "" if self.reason is None else explain(self.reason, self.score or 0)


def holders(
    session: Session, partner_id: int, cw_company_ids: set[int], *, besides: int | None = None
) -> dict[int, str]:
    """Per ConnectWise company id: the (other) vendor company mapped to it, "Name (external id)"."""
    if not cw_company_ids:
        return {}
    query = (
        select(CompanyMapping.cw_company_id, Company.name, Company.external_id)
        .join(Company, Company.id == CompanyMapping.company_id)
        .where(CompanyMapping.partner_id == partner_id, CompanyMapping.status == "mapped")
        .order_by(Company.id)
    )
    if besides is not None:
        query = query.where(Company.id != besides)
    if len(cw_company_ids) <= MAX_LISTED_IDS:
        query = query.where(CompanyMapping.cw_company_id.in_(cw_company_ids))
    found: dict[int, str] = {}
    for cw_id, name, external_id in session.execute(query):
        if cw_id in cw_company_ids:
            found.setdefault(cw_id, f"{name} ({external_id})")
    return found


def worklist_page(
    session: Session, partner_id: int, *, search: str = "", page: int = 1, per_page: int = 50
) -> Page:
    """One page of unmatched companies by name, each with its stored suggestion."""
    conditions = [*company_filter(partner_id, search), CompanyMapping.id.is_(None)]
    total = session.scalar(with_mapping(select(func.count(Company.id))).where(*conditions))
    query = (
        with_mapping(
            select(
                Company.id,
                Company.external_id,
                Company.name,
                MatchSuggestion.cw_company_id,
                CwCompanyCache.name,
                MatchSuggestion.reason,
                MatchSuggestion.score,
                MatchSuggestion.ties,
                CwCompanyCache.agreement_id,
                CwCompanyCache.agreement_name,
                CwCompanyCache.active_agreements,
            )
        )
        .outerjoin(MatchSuggestion, MatchSuggestion.company_id == Company.id)
        .outerjoin(
            CwCompanyCache,
            (CwCompanyCache.partner_id == partner_id)
            & (CwCompanyCache.cw_company_id == MatchSuggestion.cw_company_id),
        )
        .where(*conditions)
        .order_by(func.lower(Company.name), Company.id)
        .limit(per_page)
        .offset((max(page, 1) - 1) * per_page)
    )
    rows = session.execute(query).all()
    taken = holders(session, partner_id, {row[3] for row in rows if row[3] is not None})
    items = [
        WorklistRow(
            *row[:7],
            ties=row[7] or 1,
            agreement_id=row[8],
            agreement_name=row[9],
            active_agreements=row[10] or 0,
            taken_by=taken.get(row[3]),
        )
        for row in rows
    ]
    return Page(items, total or 0, max(page, 1), per_page)


FAILED = or_(RunItem.action == "error", RunItem.error.is_not(None))


def failed_company_ids(session: Session, partner_id: int) -> set[int]:
    """Companies whose latest real run recorded an error for them.

    Two indexed reads instead of one grouped scan of the ledger: the newest failure of each
    company that ever failed (a partial index holds only failures), then whether a later run
    touched that company since.
    """
    real = (Run.id == RunItem.run_id) & Run.dry_run.is_(False) & Run.trigger.not_in(PICKED_TRIGGERS)
    failures = dict(
        session.execute(
            select(RunItem.company_id, func.max(RunItem.run_id))
            .join(Run, real)
            .where(RunItem.partner_id == partner_id, RunItem.company_id.is_not(None), FAILED)
            .group_by(RunItem.company_id)
        ).all()
    )
    if not failures:
        return set()
    latest = dict(
        session.execute(
            select(RunItem.company_id, func.max(RunItem.run_id))
            .join(Run, real)
            .where(RunItem.company_id.in_(failures))
            .group_by(RunItem.company_id)
        ).all()
    )
    return {company for company, run_id in failures.items() if latest.get(company) == run_id}


def _problem_conditions(partner_id: int, search: str, failed: set[int]) -> list:
    return [
        *company_filter(partner_id, search),
        CompanyMapping.status == "mapped",
        Company.id.in_(failed),
    ]


def problem_count(
    session: Session, partner_id: int, search: str = "", failed: set[int] | None = None
) -> int:
    """How many mapped companies failed in their latest run (`failed`: already read)."""
    failed = failed_company_ids(session, partner_id) if failed is None else failed
    if not failed:
        return 0
    query = with_mapping(select(func.count(Company.id)))
    return session.scalar(query.where(*_problem_conditions(partner_id, search, failed))) or 0


def problems_page(
    session: Session,
    partner_id: int,
    *,
    search: str = "",
    page: int = 1,
    per_page: int = 50,
    failed: set[int] | None = None,
) -> Page:
    """Mapped companies whose latest run failed for them, with the errors and advice."""
    failed = failed_company_ids(session, partner_id) if failed is None else failed
    conditions = _problem_conditions(partner_id, search, failed)
    total = problem_count(session, partner_id, search, failed)
    query = (
        with_mapping(select(*COMPANY_ROW))
        .where(*conditions)
        .order_by(func.lower(Company.name), Company.id)
        .limit(per_page)
        .offset((max(page, 1) - 1) * per_page)
    )
    rows = session.execute(query).all()
    return Page(with_sync_status(session, partner_id, rows), total or 0, max(page, 1), per_page)


@dataclass(frozen=True)
class CwOption:
    """A ConnectWise company as a picker offers it."""

    cw_company_id: int
    name: str
    active_agreements: int
    taken_by: str | None

    @property
    def value(self) -> str:
        """What the picker puts in its box (the id makes it unambiguous)."""
        return f"{self.name} (#{self.cw_company_id})"

    @property
    def note(self) -> str:
        """Agreements, and the vendor company already mapped to it."""
        count = self.active_agreements
        text = (
            "no active agreement"
            if count == 0
            else f"{count} active agreement" + ("s" if count > 1 else "")
        )
        return f"{text} · already mapped to {self.taken_by}" if self.taken_by else text


def cw_options(session: Session, partner_id: int) -> list[CwOption]:
    """Every cached ConnectWise company by name, flagged when mapped to a vendor company."""
    rows = session.execute(
        select(CwCompanyCache.cw_company_id, CwCompanyCache.name, CwCompanyCache.active_agreements)
        .where(CwCompanyCache.partner_id == partner_id)
        .order_by(func.lower(CwCompanyCache.name), CwCompanyCache.cw_company_id)
    ).all()
    taken = holders(session, partner_id, {row[0] for row in rows})
    return [CwOption(cw_id, name, n, taken.get(cw_id)) for cw_id, name, n in rows]


def suggested(session: Session, partner_id: int, company_id: int) -> tuple[int, str] | None:
    """The ConnectWise company (id, name) suggested for a company, if any."""
    row = session.execute(
        select(MatchSuggestion.cw_company_id, CwCompanyCache.name)
        .join(
            CwCompanyCache,
            (CwCompanyCache.partner_id == MatchSuggestion.partner_id)
            & (CwCompanyCache.cw_company_id == MatchSuggestion.cw_company_id),
        )
        .where(MatchSuggestion.partner_id == partner_id, MatchSuggestion.company_id == company_id)
    ).first()
    return None if row is None else (row[0], row[1])


def cache_status(session: Session, partner_id: int) -> tuple[int, datetime | None]:
    """How many ConnectWise companies are cached for suggestions, and when they were read."""
    count, fetched = session.execute(
        select(func.count(CwCompanyCache.id), func.max(CwCompanyCache.fetched_at)).where(
            CwCompanyCache.partner_id == partner_id
        )
    ).one()
    return count or 0, fetched

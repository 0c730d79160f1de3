"""Read-side queries behind the partner pages: dashboard, company mappings, runs, usage."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import Select, func, literal_column, or_, select
from sqlalchemy.orm import Session

from billing_sync.counting import month_end_history
from billing_sync.errors import NotFoundError
from billing_sync.models import (
    Company,
    CompanyMapping,
    Connection,
    MappingHealth,
    Partner,
    Product,
    ProductMapping,
    Run,
    RunItem,
    Schedule,
)
from billing_sync.periods import Period, latest_closed_period
from billing_sync.sync.handle import OPEN_STATUSES
from billing_sync.sync_status import (
    ItemProblem,
    RunFailure,
    last_sync_outcomes,
    latest_finished_run,
    whole_run_failure,
)

TABS = ("mapped", "unmatched", "excluded")
ACTIONS = ("create", "update", "unchanged", "skipped", "error", "held")
TAB_STATUS = func.coalesce(CompanyMapping.status, literal_column("'unmatched'"))
# The columns of a CompanyRow, in its order (with_mapping joins the mapping).
COMPANY_ROW = (
    Company.id,
    Company.external_id,
    Company.name,
    TAB_STATUS,
    CompanyMapping.cw_company_id,
    CompanyMapping.cw_company_name,
    CompanyMapping.agreement_id,
    CompanyMapping.agreement_name,
    CompanyMapping.matched_by,
)


@dataclass(frozen=True)
class Page:
    """One page of a listing and where it sits in the whole."""

    items: list
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


@dataclass(frozen=True)
class CompanyRow:
    """A vendor company as the mappings page shows it, with its latest sync outcome."""

    company_id: int
    external_id: str
    name: str
    status: str  # mapped | unmatched | excluded
    cw_company_id: int | None
    cw_company_name: str | None
    agreement_id: int | None
    agreement_name: str | None
    matched_by: str | None
    last_sync: datetime | None = None
    problems: list[ItemProblem] = field(default_factory=list)
    # The latest run failed as a whole before it reached this company (mapped ones only).
    failure: RunFailure | None = None


@dataclass(frozen=True)
class ItemRow:
    """A run ledger entry with the names a person recognises."""

    id: int
    company_id: int | None
    external_id: str | None
    company_name: str | None
    product_code: str | None
    agreement_id: int | None
    agreement_name: str | None
    addition_id: int | None
    action: str
    state: str
    quantity_before: float | None
    quantity_after: float | None
    error: str | None
    advice: str | None
    replanned: bool = False  # an Apply found this item changed since its preview
    next_invoice_date: date | None = None
    prorate_flag: bool | None = None
    bills_next_invoice: bool | None = None  # written after its period was invoiced


@dataclass(frozen=True)
class Dashboard:
    """The figures on a partner's start page."""

    partner: Partner
    connection: Connection | None
    last_run: Run | None
    running: Run | None
    next_run_at: datetime | None
    counts: dict[str, int]
    products_mapped: int
    products_total: int
    problems: list[ItemRow]
    failure: RunFailure | None = None  # the last run failed as a whole (it names why)


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def company_filter(partner_id: int, search: str) -> list:
    """The partner's companies, those whose name or external id contains `search`."""
    conditions = [Company.partner_id == partner_id]
    if search.strip():
        pattern = _like(search.strip())
        conditions.append(
            or_(
                Company.name.ilike(pattern, escape="\\"),
                Company.external_id.ilike(pattern, escape="\\"),
            )
        )
    return conditions


def with_mapping(query: Select) -> Select:
    """Companies outer-joined to their mapping row (none: unmatched)."""
    return query.select_from(Company).outerjoin(
        CompanyMapping, CompanyMapping.company_id == Company.id
    )


def mapping_counts(session: Session, partner_id: int, search: str = "") -> dict[str, int]:
    """How many companies sit in each tab (mapped/unmatched/excluded), in one grouped query."""
    query = with_mapping(select(TAB_STATUS, func.count(Company.id)))
    rows = session.execute(query.where(*company_filter(partner_id, search)).group_by(TAB_STATUS))
    counts = dict.fromkeys(TABS, 0)
    counts.update({status: n for status, n in rows})
    return counts


def company_page(
    session: Session,
    partner_id: int,
    *,
    tab: str,
    search: str = "",
    page: int = 1,
    per_page: int = 50,
    health: str | None = None,
) -> Page:
    """One page of a tab of the company mappings listing, sorted by name; `health` keeps only
    companies whose latest pre-flight check has that level (green, amber, red)."""
    conditions = [*company_filter(partner_id, search), tab == TAB_STATUS]
    if health is not None:
        conditions.append(Company.id.in_(health_level_ids(partner_id, health)))
    total = session.scalar(with_mapping(select(func.count(Company.id))).where(*conditions))
    query = (
        with_mapping(select(*COMPANY_ROW))
        .where(*conditions)
        .order_by(func.lower(Company.name), Company.id)
    )
    rows = session.execute(query.limit(per_page).offset((max(page, 1) - 1) * per_page)).all()
    items = with_sync_status(session, partner_id, rows)
    return Page(items, total or 0, max(page, 1), per_page)


def health_level_ids(partner_id: int, level: str):
    """A subquery: ids of the partner's companies whose stored health is at `level`."""
    return select(MappingHealth.company_id).where(
        MappingHealth.partner_id == partner_id, MappingHealth.level == level
    )


def with_sync_status(session: Session, partner_id: int, rows: list) -> list[CompanyRow]:
    """Company rows with their latest sync outcome and the last run's failure if it missed them."""
    outcomes = last_sync_outcomes(session, partner_id, [row[0] for row in rows])
    failure = whole_run_failure(latest_finished_run(session, partner_id))
    items = []
    for row in rows:
        last_sync, run_id, problems = outcomes.get(row[0], (None, None, []))
        missed = failure if failure is not None and run_id != failure.run_id else None
        items.append(
            CompanyRow(
                *row,
                last_sync=last_sync,
                problems=problems,
                failure=missed if row[3] == "mapped" else None,
            )
        )
    return items


def get_company(session: Session, partner_id: int, company_id: int) -> Company:
    """A partner's company by database id, or NotFoundError (also for another partner's id)."""
    company = session.get(Company, company_id)
    if company is None or company.partner_id != partner_id:
        raise NotFoundError(f"no company {company_id}")
    return company


def companies_by_id(session: Session, partner_id: int, ids: list[int]) -> list[Company]:
    """The partner's companies among these ids."""
    query = select(Company).where(Company.partner_id == partner_id, Company.id.in_(ids))
    return list(session.scalars(query))


def get_run(session: Session, partner_id: int, run_id: int) -> Run:
    """A partner's run by id, or NotFoundError (also for another partner's run)."""
    run = session.get(Run, run_id)
    if run is None or run.partner_id != partner_id:
        raise NotFoundError(f"no run {run_id}")
    return run


def runs_page(
    session: Session,
    partner_id: int,
    *,
    page: int = 1,
    per_page: int = 25,
    include_previews: bool = False,
) -> Page:
    """Runs newest first; previews (dry runs) only when asked for."""
    conditions = [Run.partner_id == partner_id]
    if not include_previews:
        conditions.append(Run.dry_run.is_(False))
    total = session.scalar(select(func.count(Run.id)).where(*conditions)) or 0
    query = (
        select(Run)
        .where(*conditions)
        .order_by(Run.started_at.desc(), Run.id.desc())
        .limit(per_page)
        .offset((max(page, 1) - 1) * per_page)
    )
    return Page(list(session.scalars(query)), total, max(page, 1), per_page)


def run_items(
    session: Session,
    partner_id: int,
    run_id: int,
    *,
    action: str | None = None,
    page: int = 1,
    per_page: int = 200,
) -> Page:
    """A run's ledger, optionally one action only ("error" also matches items carrying an error)."""
    conditions = [RunItem.partner_id == partner_id, RunItem.run_id == run_id]
    if action == "error":
        conditions.append(or_(RunItem.action == "error", RunItem.error.is_not(None)))
    elif action:
        conditions.append(RunItem.action == action)
    total = session.scalar(select(func.count(RunItem.id)).where(*conditions)) or 0
    query = (
        select(
            RunItem.id,
            RunItem.company_id,
            Company.external_id,
            Company.name,
            Product.code,
            RunItem.agreement_id,
            CompanyMapping.agreement_name,
            RunItem.addition_id,
            RunItem.action,
            RunItem.state,
            RunItem.quantity_before,
            RunItem.quantity_after,
            RunItem.error,
            RunItem.advice,
            RunItem.replanned,
            RunItem.next_invoice_date,
            RunItem.prorate_flag,
            RunItem.bills_next_invoice,
        )
        .select_from(RunItem)
        .outerjoin(Company, Company.id == RunItem.company_id)
        .outerjoin(Product, Product.id == RunItem.product_id)
        .outerjoin(CompanyMapping, CompanyMapping.company_id == RunItem.company_id)
        .where(*conditions)
        .order_by(func.lower(Company.name), Product.code, RunItem.id)
        .limit(per_page)
        .offset((max(page, 1) - 1) * per_page)
    )
    items = [ItemRow(*row) for row in session.execute(query)]
    return Page(items, total, max(page, 1), per_page)


def action_counts(session: Session, partner_id: int, run_id: int) -> dict[str, int]:
    """How many ledger items of a run took each action."""
    query = (
        select(RunItem.action, func.count(RunItem.id))
        .where(RunItem.partner_id == partner_id, RunItem.run_id == run_id)
        .group_by(RunItem.action)
    )
    counts = dict.fromkeys(ACTIONS, 0)
    counts.update({action: n for action, n in session.execute(query)})
    return counts


def dashboard(session: Session, partner_id: int) -> Dashboard:
    """Integration status, last and running run, next run, mapping counts and open problems."""
    partner = session.get(Partner, partner_id)
    real = select(Run).where(Run.partner_id == partner_id, Run.dry_run.is_(False))
    last_run = latest_finished_run(session, partner_id)
    running = session.scalar(
        real.where(Run.status.in_(OPEN_STATUSES)).order_by(Run.started_at.desc()).limit(1)
    )
    schedule = session.scalar(select(Schedule).where(Schedule.partner_id == partner_id))
    problems = []
    if last_run is not None:
        problems = run_items(session, partner_id, last_run.id, action="error", per_page=20).items
    mapped = session.scalar(
        select(func.count(ProductMapping.id)).where(ProductMapping.partner_id == partner_id)
    )
    return Dashboard(
        partner=partner,
        connection=session.scalar(select(Connection).where(Connection.partner_id == partner_id)),
        last_run=last_run,
        running=running,
        next_run_at=schedule.next_run_at if schedule is not None and schedule.enabled else None,
        counts=mapping_counts(session, partner_id),
        products_mapped=mapped or 0,
        products_total=session.scalar(select(func.count(Product.id))) or 0,
        problems=problems,
        failure=whole_run_failure(last_run),
    )


@dataclass(frozen=True)
class UsageHistory:
    """Month-end counts per product over consecutive closed periods (oldest first)."""

    periods: list[Period]
    products: list[Product]
    series: dict[str, list[int]]  # product code -> one count per period


def usage_history(
    session: Session,
    partner_id: int,
    tz: str,
    *,
    now: datetime,
    months: int = 12,
    company_id: int | None = None,
) -> UsageHistory:
    """Month-end counts of the last `months` closed periods, summed per product."""
    last = latest_closed_period(now, tz)
    periods = [last]
    while len(periods) < months:
        periods.insert(0, periods[0].previous())
    history = month_end_history(session, partner_id, periods, tz, company_id=company_id)
    products = {p.id: p for p in session.scalars(select(Product).order_by(Product.code))}
    totals: dict[int, list[int]] = defaultdict(lambda: [0] * len(periods))
    for index, period in enumerate(periods):
        for (_company, product_id), count in history[period].items():
            totals[product_id][index] += count
    shown = [p for p in products.values() if p.id in totals]
    return UsageHistory(periods, shown, {p.code: totals[p.id] for p in shown})


def company_list(
    session: Session, partner_id: int, *, search: str = "", page: int = 1, per_page: int = 50
) -> Page:
    """Companies by name, searchable by name or external id (the usage page's picker)."""
    conditions = company_filter(partner_id, search)
    total = session.scalar(select(func.count(Company.id)).where(*conditions)) or 0
    query = (
        select(Company)
        .where(*conditions)
        .order_by(func.lower(Company.name), Company.id)
        .limit(per_page)
        .offset((max(page, 1) - 1) * per_page)
    )
    return Page(list(session.scalars(query)), total, max(page, 1), per_page)

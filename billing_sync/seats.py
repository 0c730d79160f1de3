"""Seats: the one validated upsert behind the usage CSV and PUT /api/v1/seats, in grouped SQL."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from billing_sync.errors import InvalidInput
from billing_sync.models import Company, Partner, Product, Seat
from billing_sync.suggestions import recompute_suggestions
from billing_sync.validation import shown, text

MAX_LENGTHS = {"company_id": 100, "company_name": 255, "user_id": 100, "user_email": 255}
REQUIRED = ("company_id", "company_name", "user_id")
SHOWN_CODES = 10  # product codes listed in an "unknown product" message
CHUNK = 500  # keeps an IN list well under every driver's parameter limit


@dataclass(frozen=True)
class SeatRow:
    """One seat as the CSV and the API state it; timestamps aware."""

    company_id: str
    company_name: str
    user_id: str
    user_email: str | None
    product: str
    active_from: datetime
    active_to: datetime | None = None


@dataclass(frozen=True)
class RowProblem:
    """What is wrong with one input row (by position) and which field says so."""

    index: int
    field: str
    message: str


class RowsRejected(InvalidInput):
    """The rows were rejected as a whole; nothing was written."""

    def __init__(self, problems: list[RowProblem]) -> None:
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) in the rows; nothing was written")


@dataclass(frozen=True)
class SeatSummary:
    """What an upsert did; the same rows again report only unchanged seats."""

    companies_created: int
    companies_renamed: int
    created: int
    updated: int
    unchanged: int


def product_ids(session: Session) -> dict[str, int]:
    """Every product code and its id (products are global and few)."""
    return {code: id_ for code, id_ in session.execute(select(Product.code, Product.id))}


def field_problems(fields: Mapping[str, str | None], products: Iterable[str]) -> list[RowProblem]:
    """Empty ids, over-long or control-bearing text and an unknown product in one row (index 0)."""
    problems = []
    for name, limit in MAX_LENGTHS.items():
        try:
            text(fields.get(name), name, limit, required=name in REQUIRED)
        except InvalidInput as exc:
            problems.append(RowProblem(0, name, str(exc)))
    codes = sorted(products)
    if fields.get("product") not in codes:
        listed = ", ".join(codes[:SHOWN_CODES]) or "none defined"
        more = f" and {len(codes) - SHOWN_CODES} more" if len(codes) > SHOWN_CODES else ""
        code = shown(fields.get("product") or "")
        message = f"unknown product code {code} (known: {listed}{more})"
        problems.append(RowProblem(0, "product", message))
    return problems


def interval_problem(active_from: datetime, active_to: datetime | None) -> str | None:
    """A seat's interval must not be empty: [active_from, active_to) with active_to later."""
    if active_to is not None and active_to <= active_from:
        return "active_to must be later than active_from"
    return None


def seat_conflicts(
    rows: Sequence[tuple[int, SeatRow]], where: Callable[[int], str]
) -> list[RowProblem]:
    """Rows naming the same seat or company twice must agree; `where(index)` names a row."""
    seats: dict[tuple, tuple[int, SeatRow]] = {}
    names: dict[str, tuple[int, str]] = {}
    problems = []
    for index, row in rows:
        key = (row.company_id, row.user_id, row.product, row.active_from)
        seen_index, seen = seats.setdefault(key, (index, row))
        if seen != row and seen.company_name == row.company_name:
            field = "active_to" if seen.active_to != row.active_to else "user_email"
            problems.append(
                RowProblem(
                    index,
                    field,
                    f"same seat as {where(seen_index)} with different active_to or email",
                )
            )
        name_index, name = names.setdefault(row.company_id, (index, row.company_name))
        if name != row.company_name:
            problems.append(
                RowProblem(
                    index,
                    "company_name",
                    f"company {row.company_id} is named {shown(row.company_name)} here "
                    f"but {shown(name)} on {where(name_index)}",
                )
            )
    return problems


def seat_problems(
    rows: Sequence[SeatRow], products: Iterable[str], where: Callable[[int], str]
) -> list[RowProblem]:
    """Everything wrong with the rows, each problem at its row's index, in input order."""
    known = set(products)
    problems = []
    for index, row in enumerate(rows):
        fields = {name: getattr(row, name) for name in (*MAX_LENGTHS, "product")}
        problems += [RowProblem(index, p.field, p.message) for p in field_problems(fields, known)]
        if message := interval_problem(row.active_from, row.active_to):
            problems.append(RowProblem(index, "active_to", message))
    problems += seat_conflicts(list(enumerate(rows)), where)
    return sorted(problems, key=lambda problem: problem.index)


def upsert_seats(
    session: Session,
    partner_id: int,
    rows: Sequence[SeatRow],
    *,
    now: datetime,
    where: Callable[[int], str] = lambda index: f"row {index}",
) -> SeatSummary:
    """Validate every row, then upsert companies and seats; RowsRejected writes nothing.

    A seat is keyed by (company_id, user_id, product, active_from): a known key updates its
    active_to and email, so the same rows twice change nothing. A handful of grouped queries
    per call, however many rows; the caller commits.
    """
    if session.get(Partner, partner_id) is None:
        raise ValueError(f"partner {partner_id} does not exist")
    products = product_ids(session)
    if problems := seat_problems(rows, products, where):
        raise RowsRejected(problems)
    names = {row.company_id: row.company_name for row in rows}
    companies, created, renamed = upsert_companies(session, partner_id, names, now=now)
    wanted = {
        (companies[row.company_id], row.user_id, products[row.product], row.active_from): row
        for row in rows
    }
    existing = _existing_seats(session, list(wanted))
    inserts, updates, unchanged = [], [], 0
    for key, row in wanted.items():
        company_id, user, product_id, active_from = key
        found = existing.get(key)
        if found is None:
            inserts.append(
                {
                    "partner_id": partner_id,
                    "company_id": company_id,
                    "product_id": product_id,
                    "user_external_id": user,
                    "user_email": row.user_email,
                    "active_from": active_from,
                    "active_to": row.active_to,
                    "updated_at": now,
                }
            )
        elif found[1:] == (row.active_to, row.user_email):
            unchanged += 1
        else:
            updates.append(
                {
                    "id": found[0],
                    "active_to": row.active_to,
                    "user_email": row.user_email,
                    "updated_at": now,
                }
            )
    if inserts:
        # render_nulls keeps one executemany: without it the ORM starts a new batch whenever
        # the columns left None change from one row to the next (active_to, user_email).
        session.execute(insert(Seat).execution_options(render_nulls=True), inserts)
    if updates:
        session.execute(update(Seat), updates)
    session.flush()
    return SeatSummary(created, renamed, len(inserts), len(updates), unchanged)


def upsert_companies(
    session: Session, partner_id: int, names: Mapping[str, str], *, now: datetime
) -> tuple[dict[str, int], int, int]:
    """external id -> company id for these companies, creating or renaming as named."""
    wanted = list(names)
    existing: dict[str, Company] = {}
    for start in range(0, len(wanted), CHUNK):
        query = select(Company).where(
            Company.partner_id == partner_id,
            Company.external_id.in_(wanted[start : start + CHUNK]),
        )
        existing.update({company.external_id: company for company in session.scalars(query)})
    renamed = 0
    for external_id, company in existing.items():
        if company.name != names[external_id]:
            company.name = names[external_id]
            renamed += 1
    new = [
        Company(partner_id=partner_id, external_id=external_id, name=name)
        for external_id, name in names.items()
        if external_id not in existing
    ]
    session.add_all(new)
    session.flush()
    if new:
        # A new company reaches the Unmatched worklist with its suggestion, ranked against the
        # cached ConnectWise list (no ConnectWise call here), not only after the next refresh.
        recompute_suggestions(session, partner_id, now, {company.id for company in new})
    ids = {company.external_id: company.id for company in [*existing.values(), *new]}
    return ids, len(new), renamed


def _existing_seats(session: Session, keys: list[tuple]) -> dict[tuple, tuple]:
    """(company, user, product, active_from) -> (seat id, active_to, email) for the keys given."""
    found: dict[tuple, tuple] = {}
    companies = sorted({key[0] for key in keys})
    products = sorted({key[2] for key in keys})
    for start in range(0, len(companies), CHUNK):
        query = select(
            Seat.id,
            Seat.company_id,
            Seat.user_external_id,
            Seat.product_id,
            Seat.active_from,
            Seat.active_to,
            Seat.user_email,
        ).where(
            Seat.company_id.in_(companies[start : start + CHUNK]), Seat.product_id.in_(products)
        )
        for id_, company, user, product, active_from, active_to, email in session.execute(query):
            found[(company, user, product, active_from)] = (id_, active_to, email)
    return found

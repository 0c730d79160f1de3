"""Month-end and live user counts per (company, product): pure rules and their grouped SQL."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, Select, and_, distinct, func, literal, or_, select, union_all
from sqlalchemy.orm import Session

from billing_sync.models import Seat, UTCDateTime
from billing_sync.periods import Period, require_aware

CountKey = tuple[int, int]  # (company_id, product_id)


@dataclass(frozen=True)
class SeatInterval:
    """One user holding one product at one company over [active_from, active_to)."""

    company_id: int
    product_id: int
    user: str
    active_from: datetime
    active_to: datetime | None = None


def held_at_boundary(seat: SeatInterval, boundary: datetime) -> bool:
    """Month-end rule: active_from < B <= active_to (an open end is infinity)."""
    return seat.active_from < boundary and (seat.active_to is None or boundary <= seat.active_to)


def held_at(seat: SeatInterval, at: datetime) -> bool:
    """Live rule: active_from <= t < active_to (an open end is infinity)."""
    return seat.active_from <= at and (seat.active_to is None or at < seat.active_to)


def count_users(seats: Iterable[SeatInterval], boundary: datetime) -> dict[CountKey, int]:
    """Pure month-end counts: distinct users per (company, product); the SQL's reference."""
    users: dict[CountKey, set[str]] = defaultdict(set)
    for seat in seats:
        if held_at_boundary(seat, boundary):
            users[(seat.company_id, seat.product_id)].add(seat.user)
    return {key: len(names) for key, names in users.items()}


def _counts(session: Session, query: Select) -> dict[CountKey, int]:
    return {(company, product): n for company, product, n in session.execute(query)}


def _grouped(partner_id: int, *conditions) -> Select:
    return (
        select(Seat.company_id, Seat.product_id, func.count(distinct(Seat.user_external_id)))
        .where(Seat.partner_id == partner_id, *conditions)
        .group_by(Seat.company_id, Seat.product_id)
    )


def month_end_counts(session: Session, partner_id: int, boundary: datetime) -> dict[CountKey, int]:
    """Distinct users per (company, product) holding a seat across boundary B, in one query."""
    b = require_aware(boundary, "boundary")
    query = _grouped(
        partner_id,
        Seat.active_from < b,
        or_(Seat.active_to.is_(None), Seat.active_to >= b),
    )
    return _counts(session, query)


def _live_at(at: datetime) -> tuple:
    t = require_aware(at, "instant")
    return Seat.active_from <= t, or_(Seat.active_to.is_(None), Seat.active_to > t)


def live_counts(session: Session, partner_id: int, at: datetime) -> dict[CountKey, int]:
    """Distinct users per (company, product) holding a seat at instant `at`, in one query."""
    return _counts(session, _grouped(partner_id, *_live_at(at)))


def live_counts_by_partner(
    session: Session, partner_ids: list[int], at: datetime
) -> dict[int, dict[CountKey, int]]:
    """Live counts of several partners at one instant (the live rule has no zone), in one query."""
    query = (
        select(
            Seat.partner_id,
            Seat.company_id,
            Seat.product_id,
            func.count(distinct(Seat.user_external_id)),
        )
        .where(Seat.partner_id.in_(partner_ids), *_live_at(at))
        .group_by(Seat.partner_id, Seat.company_id, Seat.product_id)
    )
    found: dict[int, dict[CountKey, int]] = {partner_id: {} for partner_id in partner_ids}
    for partner_id, company, product, n in session.execute(query):
        found[partner_id][(company, product)] = n
    return found


def month_end_history(
    session: Session,
    partner_id: int,
    periods: list[Period],
    tz: str,
    company_id: int | None = None,
) -> dict[Period, dict[CountKey, int]]:
    """Month-end counts for several periods (the usage chart) in one grouped query."""
    history: dict[Period, dict[CountKey, int]] = {period: {} for period in periods}
    if not periods:
        return history
    ordered = list(history)
    # A UNION ALL of literal rows is portable where VALUES-with-column-aliases is not (SQLite).
    bounds = union_all(
        *(
            select(
                literal(index, Integer).label("idx"),
                literal(period.end(tz), UTCDateTime()).label("b"),
            )
            for index, period in enumerate(ordered)
        )
    ).cte("bounds")
    conditions = [Seat.partner_id == partner_id]
    if company_id is not None:
        conditions.append(Seat.company_id == company_id)
    query = (
        select(
            bounds.c.idx,
            Seat.company_id,
            Seat.product_id,
            func.count(distinct(Seat.user_external_id)),
        )
        .select_from(bounds)
        .join(
            Seat,
            and_(
                Seat.active_from < bounds.c.b,
                or_(Seat.active_to.is_(None), Seat.active_to >= bounds.c.b),
            ),
        )
        .where(*conditions)
        .group_by(bounds.c.idx, Seat.company_id, Seat.product_id)
    )
    for index, company, product, n in session.execute(query):
        history[ordered[index]][(company, product)] = n
    return history

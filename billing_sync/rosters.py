"""User-list snapshots: who holds a company's product at an instant, turned into seat intervals."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing_sync.errors import Conflict, InvalidInput, NotFoundError
from billing_sync.models import Company, Product, RosterMark, Seat
from billing_sync.periods import require_aware
from billing_sync.seats import MAX_LENGTHS, RowProblem, RowsRejected, upsert_companies


@dataclass(frozen=True)
class RosterUser:
    """One user in a snapshot."""

    user_id: str
    user_email: str | None = None


@dataclass(frozen=True)
class Roster:
    """Every user holding `product` at `company_id` (the vendor's id) at instant `as_of`."""

    company_id: str
    product: str
    as_of: datetime
    users: list[RosterUser]
    company_name: str | None = None  # needed to create the company; renames it when given


@dataclass(frozen=True)
class RosterResult:
    """What applying a snapshot did to the seats."""

    opened: int
    closed: int
    updated: int  # e-mail changed
    unchanged: int
    company_created: bool


def _problems(roster: Roster) -> list[RowProblem]:
    problems = []
    emails: dict[str, tuple[int, str | None]] = {}
    for index, user in enumerate(roster.users):
        if not user.user_id:
            problems.append(RowProblem(index, "user_id", "user_id is empty"))
        for name in ("user_id", "user_email"):
            if len(getattr(user, name) or "") > MAX_LENGTHS[name]:
                limit = MAX_LENGTHS[name]
                problems.append(RowProblem(index, name, f"{name} is longer than {limit}"))
        first, email = emails.setdefault(user.user_id, (index, user.user_email))
        if email != user.user_email:
            message = f"user {user.user_id} is listed at /users/{first} with another e-mail"
            problems.append(RowProblem(index, "user_email", message))
    return problems


def _company(session: Session, partner_id: int, roster: Roster, now: datetime) -> tuple[int, bool]:
    name = roster.company_name
    if name is not None and not 0 < len(name) <= MAX_LENGTHS["company_name"]:
        raise InvalidInput("company_name must be 1 to 255 characters")
    if name is None:
        found = session.scalar(
            select(Company.id).where(
                Company.partner_id == partner_id, Company.external_id == roster.company_id
            )
        )
        if found is None:
            raise NotFoundError(f"no company {roster.company_id!r}; send company_name to create it")
        return found, False
    ids, created, _ = upsert_companies(session, partner_id, {roster.company_id: name}, now=now)
    return ids[roster.company_id], created == 1


def _mark(
    session: Session, partner_id: int, key: tuple[int, int], roster: Roster, now: datetime
) -> None:
    """Refuse a snapshot older than the newest applied; record this one as the newest."""
    company_id, product_id = key
    query = select(RosterMark).where(
        RosterMark.company_id == company_id, RosterMark.product_id == product_id
    )
    mark = session.scalars(query.with_for_update()).one_or_none()
    if mark is not None and roster.as_of < mark.as_of:
        raise Conflict(
            f"a newer snapshot (as_of {mark.as_of.isoformat()}) was already applied to "
            f"{roster.company_id} / {roster.product}; nothing was changed"
        )
    if mark is None:
        try:
            with session.begin_nested():
                session.add(
                    RosterMark(
                        partner_id=partner_id,
                        company_id=company_id,
                        product_id=product_id,
                        as_of=roster.as_of,
                        applied_at=now,
                    )
                )
        except IntegrityError:
            raise Conflict(
                "another snapshot of this company and product was applied at the same "
                "time; send yours again"
            ) from None
    elif roster.as_of > mark.as_of:
        mark.as_of, mark.applied_at = roster.as_of, now


def apply_roster(
    session: Session, partner_id: int, roster: Roster, *, now: datetime
) -> RosterResult:
    """Open a seat at as_of for each listed user without one; close the seats of absent users.

    The same snapshot again changes nothing; one older than the newest applied for the pair
    is a Conflict; one in the future is InvalidInput. A seat that would close at the instant
    it opened (a snapshot corrected at the same as_of) is removed. The caller commits.
    """
    as_of = require_aware(roster.as_of, "as_of")
    if as_of > now:
        raise InvalidInput(f"as_of {as_of.isoformat()} is in the future")
    if problems := _problems(roster):
        raise RowsRejected(problems)
    product_id = session.scalar(select(Product.id).where(Product.code == roster.product))
    if product_id is None:
        raise NotFoundError(f"no product {roster.product!r}")
    company_id, created = _company(session, partner_id, roster, now)
    _mark(session, partner_id, (company_id, product_id), roster, now)
    held = _held(session, company_id, product_id, as_of)
    plan = plan_roster(held, {user.user_id: user.user_email for user in roster.users}, as_of)
    if plan.opened:
        rows = [
            {
                "partner_id": partner_id,
                "company_id": company_id,
                "product_id": product_id,
                "user_external_id": user,
                "user_email": email,
                "active_from": as_of,
                "active_to": None,
                "updated_at": now,
            }
            for user, email in plan.opened
        ]
        session.execute(insert(Seat).execution_options(render_nulls=True), rows)
    closes = [{"id": id_, "active_to": as_of, "updated_at": now} for id_ in plan.closed]
    emails = [{"id": id_, "user_email": e, "updated_at": now} for id_, e in plan.emails]
    for changes in (closes, emails):
        if changes:
            session.execute(update(Seat), changes)
    if plan.removed:
        session.execute(delete(Seat).where(Seat.id.in_(plan.removed)))
    session.flush()
    return RosterResult(
        opened=len(plan.opened),
        closed=len(plan.closed) + len(plan.removed),
        updated=plan.users_updated,
        unchanged=plan.users_kept - plan.users_updated,
        company_created=created,
    )


HeldSeat = tuple[int, datetime, str | None]  # seat id, active_from, email


def _held(session: Session, company_id: int, product_id: int, as_of: datetime):
    """user -> the seats of this company's product held at as_of (live rule)."""
    held: dict[str, list[HeldSeat]] = defaultdict(list)
    query = select(Seat.id, Seat.user_external_id, Seat.active_from, Seat.user_email).where(
        Seat.company_id == company_id,
        Seat.product_id == product_id,
        Seat.active_from <= as_of,
        or_(Seat.active_to.is_(None), Seat.active_to > as_of),
    )
    for seat_id, user, active_from, email in session.execute(query):
        held[user].append((seat_id, active_from, email))
    return held


@dataclass(frozen=True)
class RosterPlan:
    """What a snapshot changes: seats to open, close, remove, and e-mails to correct."""

    opened: list[tuple[str, str | None]]  # (user, email)
    closed: list[int]  # seat ids ending at as_of
    removed: list[int]  # seat ids that began at as_of: closing would leave them empty
    emails: list[tuple[int, str | None]]  # (seat id, new email)
    users_kept: int
    users_updated: int


def plan_roster(
    held: dict[str, list[HeldSeat]], wanted: dict[str, str | None], as_of: datetime
) -> RosterPlan:
    """Pure: the seats held at as_of and the users listed -> the changes."""
    gone = [seat for user, seats in held.items() if user not in wanted for seat in seats]
    emails = [
        (seat_id, wanted[user])
        for user, seats in held.items()
        if user in wanted
        for seat_id, _, email in seats
        if email != wanted[user]
    ]
    kept = [user for user in wanted if user in held]
    return RosterPlan(
        opened=[(user, email) for user, email in wanted.items() if user not in held],
        closed=[seat_id for seat_id, start, _ in gone if start < as_of],
        removed=[seat_id for seat_id, start, _ in gone if start == as_of],
        emails=emails,
        users_kept=len(kept),
        users_updated=len({u for u in kept if any(e != wanted[u] for _, _, e in held[u])}),
    )

"""A customer's monthly statement as plain values, and the pure rules that fill it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from billing_sync.counting import SeatInterval, held_at_boundary
from billing_sync.periods import Period

UserKey = tuple[int, int, str]  # (company_id, product_id, user external id)


@dataclass(frozen=True)
class CountedUser:
    """A user counted at month end, with the start of the unbroken seat that carries them."""

    user_id: str
    email: str
    product: str
    since: datetime


@dataclass(frozen=True)
class LeftUser:
    """A user whose seat ended during the month and who is not counted at its end."""

    user_id: str
    email: str
    product: str
    since: datetime
    left_at: datetime


@dataclass(frozen=True)
class Write:
    """A ledger entry of a real run that set or confirmed a quantity for the month."""

    run_id: int
    run_at: datetime
    trigger: str
    product: str
    agreement_id: int | None
    addition_id: int | None
    action: str
    quantity_before: float | None
    quantity_after: float | None
    state: str


@dataclass(frozen=True)
class CompanyStatement:
    """One company's month: who was counted, who left, what was written where."""

    company_id: int
    external_id: str
    name: str
    cw_company: str
    agreement: str
    counted: tuple[CountedUser, ...]
    left: tuple[LeftUser, ...]
    writes: tuple[Write, ...]
    billed: tuple[tuple[str, int], ...] = ()  # (product, frozen quantity) when the month closed

    def totals(self) -> dict[str, int]:
        """Users counted at month end per product code."""
        return dict(sorted(Counter(user.product for user in self.counted).items()))

    def mismatches(self) -> list[str]:
        """Products whose listed users differ from the frozen (billed) quantity."""
        totals = self.totals()
        billed = dict(self.billed)
        return [
            f"{product}: {totals.get(product, 0)} listed, {billed.get(product, 0)} billed"
            for product in sorted(totals.keys() | billed.keys())
            if self.billed and totals.get(product, 0) != billed.get(product, 0)
        ]

    @property
    def empty(self) -> bool:
        """No seat at month end, none ended and nothing written: left out of a bundle."""
        return not (self.counted or self.left or self.writes)


@dataclass(frozen=True)
class Statement:
    """A partner's statements for one month, one entry per company."""

    partner: str
    timezone: str
    period: Period
    boundary: datetime
    generated_at: datetime
    closed: bool
    companies: tuple[CompanyStatement, ...]

    def user_count(self) -> int:
        """Counted users over every company (a user with two products counts twice)."""
        return sum(len(company.counted) for company in self.companies)


def counted_since(seats: Iterable[SeatInterval], boundary: datetime) -> dict[UserKey, datetime]:
    """For each user held at `boundary`: where the unbroken run of seats holding them began.

    Seats that touch or overlap form one run, so a seat re-imported as two back-to-back rows
    keeps its first start; a gap (the user left and came back) starts a new run.
    """
    by_user: dict[UserKey, list[SeatInterval]] = {}
    for seat in seats:
        by_user.setdefault((seat.company_id, seat.product_id, seat.user), []).append(seat)
    found = {}
    for key, rows in by_user.items():
        current = [seat for seat in rows if held_at_boundary(seat, boundary)]
        if not current:
            continue
        since = min(seat.active_from for seat in current)
        for seat in sorted(rows, key=lambda s: s.active_from, reverse=True):
            if seat.active_from < since and (seat.active_to is None or seat.active_to >= since):
                since = seat.active_from
        found[key] = since
    return found


def left_during(
    seats: Iterable[SeatInterval], period_start: datetime, boundary: datetime
) -> dict[UserKey, SeatInterval]:
    """Users whose seat ended in [start, B) and who hold none across B: their latest such seat."""
    held: set[UserKey] = set()
    ended: dict[UserKey, SeatInterval] = {}
    for seat in seats:
        key = (seat.company_id, seat.product_id, seat.user)
        if held_at_boundary(seat, boundary):
            held.add(key)
        elif seat.active_to is not None and period_start <= seat.active_to < boundary:
            kept = ended.get(key)
            if kept is None or kept.active_to < seat.active_to:
                ended[key] = seat
    return {key: seat for key, seat in ended.items() if key not in held}

"""The vendor side of the chaos script: companies, seats, the usage CSV and live counts."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

PRODUCTS = {"pb-business": 1, "pb-premium": 2}  # vendor product code -> ConnectWise catalog id
CSV_HEADER = "company_id,company_name,user_id,user_email,product,active_from,active_to"


def company_name(index: int) -> str:
    """The same name on both sides, so `companies automatch` pairs them."""
    return f"Chaos Customer {index:02d}"


def iso(moment: datetime) -> str:
    """UTC date-time text as both ConnectWise and the usage CSV take it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Seat:
    """One vendor user of one product at one company."""

    company: int
    product: str
    user: str
    active_from: datetime
    active_to: datetime | None = None


class Seats:
    """The seats the script imports, and the live counts they imply.

    Every timestamp lies in the past, so the live count is the number of seats not ended.
    """

    def __init__(self, rng: random.Random, companies: int, now: datetime) -> None:
        self.seats: list[Seat] = []
        self.companies = companies
        for company in range(1, companies + 1):
            for code, low in zip(PRODUCTS, (1, 0), strict=True):  # every company has a row
                for _ in range(rng.randint(low, 4)):
                    self._add(company, code, now - timedelta(days=40))

    def _add(self, company: int, product: str, start: datetime) -> None:
        self.seats.append(Seat(company, product, f"u{len(self.seats) + 1}", start))

    def _active(self, company: int, product: str) -> list[Seat]:
        return [
            s for s in self.seats if (s.company, s.product, s.active_to) == (company, product, None)
        ]

    def live_count(self, company: int, product: str) -> int:
        """Users of `product` at `company` now."""
        return len(self._active(company, product))

    def change(self, rng: random.Random, now: datetime) -> None:
        """Add one or two seats to a (company, product), or end one or two of its seats."""
        company, product = rng.randint(1, self.companies), rng.choice(list(PRODUCTS))
        active = self._active(company, product)
        if active and rng.random() < 0.5:
            for seat in rng.sample(active, min(len(active), rng.randint(1, 2))):
                seat.active_to = now - timedelta(minutes=1)
            return
        for _ in range(rng.randint(1, 2)):
            self._add(company, product, now - timedelta(hours=1))

    def write_csv(self, path: Path) -> Path:
        """The usage CSV of every seat (re-importing unchanged rows changes nothing)."""
        lines = [CSV_HEADER]
        for s in self.seats:
            ended = iso(s.active_to) if s.active_to else ""
            lines.append(
                f"C{s.company:02d},{company_name(s.company)},{s.user},{s.user}@chaos.example,"
                f"{s.product},{iso(s.active_from)},{ended}"
            )
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

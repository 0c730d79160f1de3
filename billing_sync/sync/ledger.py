"""The run ledger: every decision recorded; every write a fenced intent committed before sending."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from billing_sync.db import bound_idle_transaction
from billing_sync.lease import Lease, LeaseLost, database_now, hold
from billing_sync.models import AdditionLink, RunItem
from billing_sync.text import clip_optional

log = logging.getLogger(__name__)
OPEN = "intent"


@dataclass(frozen=True)
class Entry:
    """What a ledger row says about one item."""

    company_id: int | None
    product_id: int | None
    agreement_id: int | None
    action: str
    quantity_before: float | None = None
    quantity_after: float | None = None
    addition_id: int | None = None
    error: str | None = None
    advice: str | None = None
    replanned: bool = False
    next_invoice_date: date | None = None
    prorate_flag: bool | None = None
    bills_next_invoice: bool | None = None  # a written change that bills from the next invoice


@dataclass(frozen=True)
class Link:
    """The addition billing-sync manages for a (company, product), and the quantity it carries."""

    company_id: int
    product_id: int
    agreement_id: int
    addition_id: int
    quantity: float | None
    period: date | None = None  # the month-end period that quantity belongs to


@dataclass(frozen=True)
class Intent:
    """A committed intent: its ledger id and the database time it was fenced at."""

    id: int
    fenced_at: datetime


class Ledger:
    """Writes ledger rows for one run in short Core transactions (cheap enough for 4,000 items)."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        run_id: int,
        partner_id: int,
        clock: Callable[[], datetime],
        *,
        lease: Lease | None = None,
        lease_seconds: int = 300,
        settle_after: float = 0.0,
    ):
        self.factory = factory
        self.engine = factory.kw["bind"]
        self.run_id = run_id
        self.partner_id = partner_id
        self.clock = clock
        self.lease = lease
        self.lease_seconds = lease_seconds
        self.settle_after = settle_after

    def database_now(self) -> datetime:
        """The database's clock, which times leases and settlement."""
        with self.engine.connect() as conn:
            return database_now(conn)

    def _row(self, entry: Entry, state: str) -> dict:
        now = self.clock()
        row = {
            "run_id": self.run_id,
            "partner_id": self.partner_id,
            "state": state,
            "created_at": now,
            "completed_at": None if state == OPEN else now,
            **asdict(entry),
        }
        row["error"], row["advice"] = clip_optional(entry.error), clip_optional(entry.advice)
        return row

    def record_many(self, entries: list[tuple[Entry, str]], links: list[Link]) -> None:
        """Record decisions that send nothing (unchanged, skipped, error, planned) at once."""
        if not entries:
            return
        with self.engine.begin() as conn:
            bound_idle_transaction(conn)
            conn.execute(insert(RunItem), [self._row(entry, state) for entry, state in entries])
            for link in links:  # an adopted addition becomes the one we manage
                upsert_link(conn, self.partner_id, link, now=self.clock())

    def open_intent(self, entry: Entry) -> Intent:
        """Commit the intent to write, in the transaction that proves the lease is still ours.

        Raises LeaseLost (and commits nothing) when the run lost its lease: it must stop writing.
        """
        if self.lease is None:
            raise LeaseLost("a run without a lease cannot write")
        try:
            with self.engine.begin() as conn:
                now = hold(conn, self.lease, seconds=self.lease_seconds)
                row = self._row(entry, OPEN)
                row["settle_after"] = now + timedelta(seconds=self.settle_after)
                result = conn.execute(insert(RunItem), row)
                return Intent(result.inserted_primary_key[0], now)
        except DBAPIError as exc:
            # E.g. the server ended a transaction its frozen process left idle: nothing is sent.
            raise LeaseLost(f"the intent could not be committed ({type(exc).__name__})") from exc

    def complete(
        self,
        item_id: int,
        state: str,
        *,
        addition_id: int | None = None,
        error: str | None = None,
        advice: str | None = None,
        link: Link | None = None,
        http_status: int | None = None,
    ) -> bool:
        """Close an intent with its outcome; False when it was no longer open (settled by a run).

        `http_status` is ConnectWise's answer to a refused write (a 403 names a permission).
        """
        values = {
            "state": state,
            "completed_at": self.clock(),
            "error": clip_optional(error),
            "advice": clip_optional(advice),
            "http_status": http_status,
        }
        if addition_id is not None:
            values["addition_id"] = addition_id
        with self.engine.begin() as conn:
            bound_idle_transaction(conn)
            moved = conn.execute(
                update(RunItem).where(RunItem.id == item_id, RunItem.state == OPEN).values(**values)
            ).rowcount
            if moved and link is not None:
                upsert_link(conn, self.partner_id, link, now=self.clock())
        if not moved:
            log.error(
                "ledger item %s was settled by another run; outcome %s not recorded", item_id, state
            )
        return bool(moved)

    def note_open(self, item_id: int, *, error: str, advice: str) -> None:
        """Say why an intent stays open (its outcome is unknown), leaving it open."""
        with self.engine.begin() as conn:
            conn.execute(
                update(RunItem)
                .where(RunItem.id == item_id, RunItem.state == OPEN)
                .values(error=clip_optional(error), advice=clip_optional(advice))
            )

    def settle_many(
        self, decided: list[tuple[int, str, int | None, str]], links: list[Link] = ()
    ) -> None:
        """Close earlier runs' intents (id, state, addition id, note); only still-open ones move.

        `links` are the quantities the updates found done leave on their additions; only the
        addition a link already names is refreshed (an orphan's zero never takes the link over).
        """
        with self.engine.begin() as conn:
            bound_idle_transaction(conn)
            for link in links:  # a refresh of the managed addition's quantity, never a re-point
                conn.execute(
                    update(AdditionLink)
                    .where(
                        AdditionLink.company_id == link.company_id,
                        AdditionLink.product_id == link.product_id,
                        AdditionLink.addition_id == link.addition_id,
                    )
                    .values(last_quantity=link.quantity, updated_at=self.clock())
                )
            for item_id, state, addition_id, note in decided:
                conn.execute(
                    update(RunItem)
                    .where(RunItem.id == item_id, RunItem.state == OPEN)
                    .values(
                        state=state,
                        addition_id=addition_id,
                        settled_by_run_id=self.run_id,
                        completed_at=self.clock(),
                        error=note if state == "settled_failed" else None,
                        advice=note,
                    )
                )


def upsert_link(conn: Connection, partner_id: int, link: Link, *, now: datetime) -> None:
    """Remember which addition we manage for (company, product) and the quantity it carries."""
    values = {
        "agreement_id": link.agreement_id,
        "addition_id": link.addition_id,
        "last_quantity": link.quantity,
        "updated_at": now,
    }
    if link.period is not None:
        values["period"] = link.period
    changed = conn.execute(
        update(AdditionLink)
        .where(
            AdditionLink.company_id == link.company_id, AdditionLink.product_id == link.product_id
        )
        .values(**values)
    ).rowcount
    if not changed:
        conn.execute(
            insert(AdditionLink).values(
                partner_id=partner_id,
                company_id=link.company_id,
                product_id=link.product_id,
                **values,
            )
        )


def open_intents(session: Session, partner_id: int, *, before_run: int) -> list[RunItem]:
    """Writes earlier runs announced whose outcome is not yet known."""
    return list(
        session.scalars(
            select(RunItem)
            .where(
                RunItem.partner_id == partner_id, RunItem.state == OPEN, RunItem.run_id < before_run
            )
            .order_by(RunItem.id)
        )
    )

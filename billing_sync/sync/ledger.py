"""The run ledger: every decision recorded; every write as an intent committed before it is sent."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from billing_sync.connectwise.errors import ConnectWiseError
from billing_sync.connectwise.operations import AgreementBilling
from billing_sync.connectwise.records import Addition
from billing_sync.models import AdditionLink, RunItem

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


@dataclass(frozen=True)
class Link:
    """The addition billing-sync manages for a (company, product), and the quantity it carries."""

    company_id: int
    product_id: int
    agreement_id: int
    addition_id: int
    quantity: float | None


class Ledger:
    """Writes ledger rows for one run in short Core transactions (cheap enough for 4,000 items)."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        run_id: int,
        partner_id: int,
        clock: Callable[[], datetime],
    ):
        self.factory = factory
        self.engine = factory.kw["bind"]
        self.run_id = run_id
        self.partner_id = partner_id
        self.clock = clock

    def _row(self, entry: Entry, state: str) -> dict:
        now = self.clock()
        return {
            "run_id": self.run_id,
            "partner_id": self.partner_id,
            "state": state,
            "created_at": now,
            "completed_at": None if state == OPEN else now,
            **asdict(entry),
        }

    def record_many(self, entries: list[tuple[Entry, str]], links: list[Link]) -> None:
        """Record decisions that send nothing (unchanged, skipped, error, planned) at once."""
        if not entries:
            return
        with self.engine.begin() as conn:
            conn.execute(insert(RunItem), [self._row(entry, state) for entry, state in entries])
            for link in links:  # an adopted addition becomes the one we manage
                upsert_link(conn, self.partner_id, link, now=self.clock())

    def intent(self, entry: Entry) -> int:
        """Commit the intent to write; only then may the request be sent."""
        with self.engine.begin() as conn:
            result = conn.execute(insert(RunItem), self._row(entry, OPEN))
            return result.inserted_primary_key[0]

    def complete(
        self,
        item_id: int,
        state: str,
        *,
        addition_id: int | None = None,
        error: str | None = None,
        advice: str | None = None,
        link: Link | None = None,
    ) -> None:
        """Close an intent with its outcome; a successful write also moves the addition link."""
        values = {"state": state, "completed_at": self.clock(), "error": error, "advice": advice}
        if addition_id is not None:
            values["addition_id"] = addition_id
        with self.engine.begin() as conn:
            conn.execute(update(RunItem).where(RunItem.id == item_id).values(**values))
            if link is not None:
                upsert_link(conn, self.partner_id, link, now=self.clock())


def upsert_link(conn: Connection, partner_id: int, link: Link, *, now: datetime) -> None:
    """Remember which addition we manage for (company, product) and the quantity it carries."""
    values = {
        "agreement_id": link.agreement_id,
        "addition_id": link.addition_id,
        "last_quantity": link.quantity,
        "updated_at": now,
    }
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
    """Writes an earlier run announced but never completed (it was killed mid-write)."""
    return list(
        session.scalars(
            select(RunItem).where(
                RunItem.partner_id == partner_id, RunItem.state == OPEN, RunItem.run_id < before_run
            )
        )
    )


def settlement(
    item: RunItem, active: list[Addition], cw_product_id: int | None
) -> tuple[str, int | None]:
    """From what ConnectWise shows, did an open intent reach it: (state, addition id)."""
    target = item.quantity_after or 0
    if item.action == "update":
        for addition in active:
            if addition.id == item.addition_id and abs(addition.quantity - target) < 1e-6:
                return "settled_done", addition.id
        return "settled_failed", item.addition_id
    carrying = [a for a in active if a.product_id == cw_product_id]
    if len(carrying) == 1:
        return "settled_done", carrying[0].id
    return "settled_failed", None


def settle(
    factory: sessionmaker[Session],
    items: list[RunItem],
    active: list[Addition],
    cw_products: dict[int, int],
    *,
    run_id: int,
    now: datetime,
) -> None:
    """Complete a killed run's intents from what ConnectWise shows, noting who settled them."""
    with factory.begin() as session:
        for item in items:
            state, addition_id = settlement(item, active, cw_products.get(item.product_id))
            note = (
                "reached ConnectWise (confirmed by run %d)"
                if state == "settled_done"
                else "did not reach ConnectWise (checked by run %d)"
            ) % run_id
            session.execute(
                update(RunItem)
                .where(RunItem.id == item.id)
                .values(
                    state=state,
                    addition_id=addition_id,
                    settled_by_run_id=run_id,
                    completed_at=now,
                    error=note if state == "settled_failed" else None,
                    advice=note,
                )
            )


def settle_orphans(
    ledger: Ledger,
    client: AgreementBilling,
    intents: dict,
    cw_products: dict[int, int],
    now: datetime,
) -> None:
    """Settle a killed run's intents on agreements this run did not visit (re-mapped since)."""
    for agreement_id, items in intents.items():
        try:
            active = client.agreement_additions(agreement_id, active_at=now)
        except ConnectWiseError as exc:
            log.warning(
                "cannot settle %d open write(s) on agreement %s yet: %s",
                len(items),
                agreement_id,
                exc,
            )
            continue
        settle(ledger.factory, items, active, cw_products, run_id=ledger.run_id, now=ledger.clock())

"""Per agreement of a rollback: read additions, settle ripe intents, plan undos, record, write.

Every write goes through `send_write` (intent, fenced, then outcome), so a rollback is as
exactly-once as a run, and its done writes move the addition link like any run's writes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_sync.connectwise.errors import ConnectWiseError
from billing_sync.connectwise.operations import AgreementBilling
from billing_sync.lease import LeaseLost
from billing_sync.models import AdditionLink, Company, Product, ProductMapping, RunItem
from billing_sync.planning import Blocked, Change, current_additions
from billing_sync.sync.ledger import Ledger
from billing_sync.sync.report import ItemReport
from billing_sync.sync.undo import LANDED, WRITES, Undo, plan_undo, undos_of
from billing_sync.sync.writes import (
    UNKNOWN_ADVICE,
    Outcome,
    WriteTarget,
    WriteTiming,
    entry_for,
    send_write,
    settle,
    split_ripe,
)

PENDING_ADVICE = "Nothing to do: roll back again once a later run has checked that write."


@dataclass
class Rollback:
    """What a rollback needs from the database before it talks to ConnectWise."""

    run_id: int  # the run being rolled back
    undos: list[Undo]
    names: dict[tuple[int, int], tuple[str, str, str]]  # -> external id, company name, code
    cw_products: dict[int, int]  # product id -> catalog item id, for settling creates
    managed: dict[tuple[int, int], int]  # (company, product) -> the addition we manage now
    by_agreement: dict[int, list[Undo]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for undo in self.undos:
            self.by_agreement.setdefault(undo.agreement_id, []).append(undo)


def changed_items(session: Session, partner_id: int, run_id: int) -> list[RunItem]:
    """A run's ledger items that changed ConnectWise, oldest first."""
    items = session.scalars(
        select(RunItem)
        .where(
            RunItem.partner_id == partner_id,
            RunItem.run_id == run_id,
            RunItem.action.in_(WRITES),
            RunItem.state.in_(LANDED),
        )
        .order_by(RunItem.id)
    )
    return [i for i in items if undos_of([i])]


def gather_rollback(session: Session, partner_id: int, run_id: int) -> Rollback:
    """The run's undos, the names its report shows, and the links as they stand now."""
    undos = undos_of(changed_items(session, partner_id, run_id))
    company_ids = {u.company_id for u in undos}
    product_ids = {u.product_id for u in undos}
    companies = {
        c.id: (c.external_id, c.name)
        for c in session.scalars(select(Company).where(Company.id.in_(company_ids)))
    }
    codes = {
        p.id: p.code for p in session.scalars(select(Product).where(Product.id.in_(product_ids)))
    }
    names = {
        (u.company_id, u.product_id): (*companies[u.company_id], codes[u.product_id]) for u in undos
    }
    mappings = session.scalars(
        select(ProductMapping).where(ProductMapping.partner_id == partner_id)
    )
    links = session.scalars(select(AdditionLink).where(AdditionLink.partner_id == partner_id))
    return Rollback(
        run_id,
        undos,
        names,
        {m.product_id: m.cw_product_id for m in mappings},
        {(link.company_id, link.product_id): link.addition_id for link in links},
    )


@dataclass
class UndoJob:
    """One agreement's undos, with everything the worker thread needs and no session."""

    rollback: Rollback
    agreement_id: int
    ledger: Ledger
    client: AgreementBilling
    now: datetime
    dry_run: bool
    open_intents: list[RunItem]
    timing: WriteTiming
    attempts: int
    lost: threading.Event

    def target(self) -> WriteTarget:
        """Where the writes go; an update needs no date or description, and moves no period."""
        return WriteTarget(self.agreement_id, self.now, "", None, None, None)

    def report(self, change: Change, **overrides) -> ItemReport:
        """The change as the run report shows it."""
        external_id, name, code = self.rollback.names[(change.company_id, change.product_id)]
        values = dict(
            company=external_id,
            company_name=name,
            product=code,
            agreement_id=self.agreement_id,
            addition_id=change.addition_id,
            action=change.action,
            quantity_before=change.quantity_before,
            quantity_after=change.quantity_after,
            error=change.error,
            advice=change.advice,
        )
        values.update(overrides)
        return ItemReport(**values)


def _settle_ripe(job: UndoJob, active: list) -> dict[tuple[int, int], RunItem]:
    """Settle earlier runs' intents on this agreement once ripe; those in flight block items."""
    if not job.open_intents:
        return {}
    ripe, in_flight = split_ripe(job.open_intents, job.ledger.database_now())
    if ripe and not job.dry_run:
        settle(job.ledger, ripe, active, job.rollback.cw_products)
    return {(i.company_id, i.product_id): i for i in in_flight}


def _blocked(intent: RunItem | None) -> Blocked | None:
    if intent is None:
        return None
    when = f"{intent.settle_after:%Y-%m-%d %H:%M:%S} UTC" if intent.settle_after else "soon"
    message = (
        f"an earlier {intent.action} (run {intent.run_id}) may still land in ConnectWise; "
        f"its outcome is checked after {when}"
    )
    return Blocked("error", message, PENDING_ADVICE)


def _plan(job: UndoJob, active: list, pending: dict) -> list[Change]:
    rollback = job.rollback
    return [
        plan_undo(
            undo,
            active,
            run_id=rollback.run_id,
            cw_product_id=rollback.cw_products.get(undo.product_id, 0),
            managed_addition_id=rollback.managed.get((undo.company_id, undo.product_id)),
            blocked=_blocked(pending.get((undo.company_id, undo.product_id))),
        )
        for undo in rollback.by_agreement[job.agreement_id]
    ]


def _failed_read(job: UndoJob, exc: ConnectWiseError) -> list[ItemReport]:
    changes = [
        Change(
            u.company_id,
            u.product_id,
            job.rollback.cw_products.get(u.product_id, 0),
            "error",
            round(u.restore),
            u.addition_id,
            error=f"reading additions failed: {exc}",
            advice=exc.advice,
        )
        for u in job.rollback.by_agreement[job.agreement_id]
    ]
    state = "planned" if job.dry_run else "failed"
    job.ledger.record_many([(entry_for(job.target(), c), state) for c in changes], [])
    return [job.report(c) for c in changes]


def _write(job: UndoJob, change: Change) -> ItemReport:
    if job.lost.is_set():
        message = "not sent: the run lost its lease (another run took over)"
        return job.report(change, action="error", error=message)
    try:
        result = send_write(
            job.client, job.ledger, job.target(), change, timing=job.timing, attempts=job.attempts
        )
    except LeaseLost as exc:
        job.lost.set()
        return job.report(change, action="error", error=f"not sent: {exc}")
    if result.outcome is Outcome.DONE:
        return job.report(change)
    if result.outcome is Outcome.UNKNOWN:
        error = f"outcome unknown: {result.error}"
        return job.report(change, action="error", error=error, advice=UNKNOWN_ADVICE)
    return job.report(change, action="error", error=result.error, advice=result.advice)


def undo_agreement(job: UndoJob) -> list[ItemReport]:
    """All of one agreement's undos: one GET of its additions, then the writes."""
    try:
        listed = job.client.agreement_additions(job.agreement_id, active_at=job.now)
    except ConnectWiseError as exc:
        return _failed_read(job, exc)
    active = current_additions(listed, job.agreement_id, job.now)
    changes = _plan(job, active, _settle_ripe(job, active))
    writes = [c for c in changes if c.is_write and not job.dry_run]
    if job.dry_run:
        decided = [(entry_for(job.target(), c), "planned") for c in changes]
    else:
        decided = [
            (entry_for(job.target(), c), "failed" if c.action == "error" else "done")
            for c in changes
            if c not in writes
        ]
    job.ledger.record_many(decided, [])
    written = {id(c): _write(job, c) for c in writes}
    return [written.get(id(c)) or job.report(c) for c in changes]

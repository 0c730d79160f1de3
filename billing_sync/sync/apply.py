"""Per agreement: read additions, settle ripe intents, plan, record decisions, send writes."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime

from billing_sync.connectwise.errors import ConnectWiseError, NotFound
from billing_sync.connectwise.operations import AgreementBilling
from billing_sync.connectwise.records import Addition, Agreement
from billing_sync.invoice_checklist import bills_next_invoice, pushed_boundary_day
from billing_sync.lease import LeaseLost
from billing_sync.models import RunItem
from billing_sync.planning import (
    Blocked,
    Change,
    Wanted,
    current_additions,
    differs_from_preview,
    plan_agreement,
)
from billing_sync.sync import guard
from billing_sync.sync.gather import MappedProduct, RunContext, Target
from billing_sync.sync.ledger import Ledger
from billing_sync.sync.report import ItemReport
from billing_sync.sync.writes import (
    UNKNOWN_ADVICE,
    Outcome,
    WriteTarget,
    WriteTiming,
    entry_for,
    link_for,
    send_write,
    settle,
    split_ripe,
)

log = logging.getLogger(__name__)
PENDING_ADVICE = "Nothing to do: a later run decides it from what ConnectWise shows."
SHARED_ADVICE = (
    "Map each vendor company to its own agreement (Company mappings); one agreement carries one "
    "vendor company, or each would overwrite the other's count."
)
OLDER_PERIOD_ADVICE = (
    "The partner's time zone moved, so this run's latest closed month is older than one already "
    "pushed; the newer month stays. Nothing to do."
)


@dataclass
class AgreementJob:
    """One target's work, with everything the worker thread needs and no session."""

    target: Target
    context: RunContext
    ledger: Ledger
    client: AgreementBilling
    now: datetime
    effective_month: datetime  # the first day of the current month, UTC midnight
    dry_run: bool
    open_intents: list[RunItem]
    timing: WriteTiming
    attempts: int
    lost: threading.Event
    agreement: Agreement | None = None
    # What the additions read found, for mapping health: the active ones, or a 403.
    active: list[Addition] | None = None
    additions_denied: bool = False

    def write_target(self, product: MappedProduct, change: Change) -> WriteTarget:
        """Where this change's write goes, with what the ledger notes about the agreement."""
        agreement = self.agreement
        start = agreement.bill_start_date if agreement else None
        previewed = self.context.previewed
        replanned = previewed is not None and differs_from_preview(
            change, previewed.get((change.company_id, change.product_id))
        )
        next_invoice = agreement.next_invoice_date if agreement else None
        prorate = agreement.prorate_flag if agreement else None
        pushed_until = pushed_boundary_day(self.context.period, self.effective_month.date())
        return WriteTarget(
            agreement_id=self.target.agreement_id,
            # ConnectWise refuses an effectiveDate before the agreement's billStartDate.
            effective_date=max(self.effective_month, start) if start else self.effective_month,
            description=f"{product.name} ({product.code}) users, kept by billing-sync",
            period=self.context.period.first_day if self.context.period else None,
            next_invoice_date=next_invoice,
            prorate_flag=prorate,
            replanned=replanned,
            bills_next_invoice=bills_next_invoice(next_invoice, prorate, pushed_until),
        )


def _report(job: AgreementJob, product: MappedProduct, change: Change, **overrides) -> ItemReport:
    values = dict(
        company=job.target.external_id,
        company_name=job.target.name,
        product=product.code,
        agreement_id=job.target.agreement_id,
        addition_id=change.addition_id,
        action=change.action,
        quantity_before=change.quantity_before,
        quantity_after=change.quantity_after,
        error=change.error,
        advice=change.advice,
    )
    values.update(overrides)
    if values["action"] in ("create", "update"):
        target = job.write_target(product, change)
        values["bills_from"] = target.next_invoice_date if target.bills_next_invoice else None
    return ItemReport(**values)


def error_reports(job: AgreementJob, message: str, advice: str) -> list[ItemReport]:
    """Fail every product of one company (e.g. its agreement is cancelled); the run goes on."""
    changes = [
        Change(
            job.target.company_id,
            product.product_id,
            product.cw_product_id,
            "error",
            job.context.counts.get((job.target.company_id, product.product_id), 0),
            error=message,
            advice=advice,
        )
        for product in job.context.products
    ]
    products = {p.product_id: p for p in job.context.products}
    job.ledger.record_many(
        [(entry_for(job.write_target(products[c.product_id], c), c), "failed") for c in changes],
        [],
    )
    return [_report(job, products[c.product_id], c) for c in changes]


def _blocked(job: AgreementJob, product: MappedProduct, pending: dict) -> Blocked | None:
    """Why nothing may be written to this item now, or None."""
    target, context = job.target, job.context
    if others := context.sharing(target):
        message = f"agreement {target.agreement_id} is also mapped to {', '.join(others)}"
        return Blocked("error", message, SHARED_ADVICE)
    if intent := pending.get((target.company_id, product.product_id)):
        when = f"{intent.settle_after:%Y-%m-%d %H:%M:%S} UTC" if intent.settle_after else "soon"
        message = (
            f"an earlier {intent.action} (run {intent.run_id}) may still land in ConnectWise; "
            f"its outcome is checked after {when}"
        )
        return Blocked("error", message, PENDING_ADVICE)
    link = context.links.get((target.company_id, product.product_id))
    if context.period and link and link.period and link.period > context.period.first_day:
        message = f"{context.period} is older than {link.period:%Y-%m}, already pushed"
        return Blocked("skipped", message, OLDER_PERIOD_ADVICE)
    return None


def _wanted(job: AgreementJob, pending: dict) -> list[Wanted]:
    target, context = job.target, job.context
    wants = []
    for product in context.products:
        link = context.links.get((target.company_id, product.product_id))
        linked = link.addition_id if link and link.agreement_id == target.agreement_id else None
        quantity = context.counts.get((target.company_id, product.product_id), 0)
        blocked = _blocked(job, product, pending)
        wants.append(
            Wanted(
                target.company_id,
                product.product_id,
                product.cw_product_id,
                quantity,
                linked,
                blocked,
            )
        )
    return wants


def settle_ripe(job: AgreementJob, active: list[Addition]) -> dict[tuple[int, int], RunItem]:
    """Settle earlier runs' intents whose window has passed; the rest block their items."""
    if not job.open_intents:
        return {}
    ripe, in_flight = split_ripe(job.open_intents, job.ledger.database_now())
    if ripe and not job.dry_run:  # a preview decides nothing; it shows what is in flight
        cw_products = {p.product_id: p.cw_product_id for p in job.context.products}
        settle(job.ledger, ripe, active, cw_products)
    return {(i.company_id, i.product_id): i for i in in_flight}


def settle_unusable(job: AgreementJob) -> None:
    """An agreement that fails its checks still gets its earlier runs' intents settled."""
    if not job.open_intents or job.dry_run:
        return
    try:
        active = job.client.agreement_additions(job.target.agreement_id, active_at=job.now)
    except NotFound:
        active = []  # the agreement is gone, and every addition with it
    except ConnectWiseError as exc:
        log.warning(
            "cannot settle open writes on agreement %s yet: %s", job.target.agreement_id, exc
        )
        return
    settle_ripe(job, current_additions(active, job.target.agreement_id, job.now))


def _decisions(job: AgreementJob, products: dict, changes: list[Change]) -> None:
    """One transaction for every decision of an agreement that sends nothing."""
    entries, links = [], []
    for change in changes:
        target = job.write_target(products[change.product_id], change)
        if job.dry_run:
            entries.append((entry_for(target, change), "planned"))
            continue
        entries.append(
            (entry_for(target, change), "failed" if change.action == "error" else "done")
        )
        if change.action == "unchanged" and change.addition_id is not None:
            link = job.context.links.get((change.company_id, change.product_id))
            moved = link is None or link.period != target.period  # now carries this period
            if change.adopted or moved:  # the addition we manage from now on
                links.append(link_for(target, change, change.addition_id, change.quantity_before))
    job.ledger.record_many(entries, links)


def _write(job: AgreementJob, product: MappedProduct, change: Change) -> ItemReport:
    if job.lost.is_set():
        message = "not sent: the run lost its lease (another run took over)"
        return _report(job, product, change, action="error", error=message)
    try:
        result = send_write(
            job.client,
            job.ledger,
            job.write_target(product, change),
            change,
            timing=job.timing,
            attempts=job.attempts,
        )
    except LeaseLost as exc:
        job.lost.set()
        return _report(job, product, change, action="error", error=f"not sent: {exc}")
    if result.outcome is Outcome.DONE:
        return _report(job, product, change, addition_id=result.addition.id)
    if result.outcome is Outcome.UNKNOWN:
        error, advice = f"outcome unknown: {result.error}", UNKNOWN_ADVICE
        return _report(job, product, change, action="error", error=error, advice=advice)
    return _report(job, product, change, action="error", error=result.error, advice=result.advice)


def process_agreement(job: AgreementJob) -> list[ItemReport]:
    """All of one company's items: one GET of the agreement's additions, then the writes."""
    try:
        listed = job.client.agreement_additions(job.target.agreement_id, active_at=job.now)
    except ConnectWiseError as exc:
        job.additions_denied = exc.status == 403
        return error_reports(job, f"reading additions failed: {exc}", exc.advice)
    active = current_additions(listed, job.target.agreement_id, job.now)
    job.active = active
    pending = settle_ripe(job, active)
    products = {p.product_id: p for p in job.context.products}
    # Holds and drift may turn a planned write into a held, skipped or unchanged item.
    changes, guarded = guard.review_changes(
        job, plan_agreement(_wanted(job, pending), active), active
    )
    writes = [c for c in changes if c.is_write and not job.dry_run]
    _decisions(job, products, [c for c in changes if c not in writes])
    written = {id(c): _write(job, products[c.product_id], c) for c in writes}
    reports = [written.get(id(c)) or _report(job, products[c.product_id], c) for c in changes]
    guard.after_writes(job, guarded, changes, reports)
    return reports

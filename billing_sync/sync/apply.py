"""Per agreement: read additions, settle old intents, plan, and apply writes with ledger entries."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime

from billing_sync.connectwise.errors import ConfigurationError, ConnectWiseError, TransientError
from billing_sync.connectwise.operations import AgreementBilling
from billing_sync.connectwise.records import Addition
from billing_sync.planning import AMBIGUOUS_ADVICE, Change, Wanted, plan_agreement
from billing_sync.sync.gather import MappedProduct, RunContext, Target
from billing_sync.sync.ledger import Entry, Ledger, Link, settle
from billing_sync.sync.report import ItemReport

log = logging.getLogger(__name__)
CREATE_ATTEMPTS = 3  # each attempt re-reads first, so a create never duplicates


@dataclass
class AgreementJob:
    """One target's work, with everything the worker thread needs and no session."""

    target: Target
    context: RunContext
    ledger: Ledger
    client: AgreementBilling
    now: datetime
    effective_date: datetime
    dry_run: bool
    open_intents: list


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
    return ItemReport(**values)


def _entry(job: AgreementJob, change: Change, **overrides) -> Entry:
    values = dict(
        company_id=change.company_id,
        product_id=change.product_id,
        agreement_id=job.target.agreement_id,
        action=change.action,
        quantity_before=change.quantity_before,
        quantity_after=change.quantity_after,
        addition_id=change.addition_id,
        error=change.error,
        advice=change.advice,
    )
    values.update(overrides)
    return Entry(**values)


def error_reports(job: AgreementJob, message: str, advice: str) -> list[ItemReport]:
    """Fail every product of one company (e.g. its agreement is cancelled); the run goes on."""
    changes = []
    for product in job.context.products:
        quantity = job.context.counts.get((job.target.company_id, product.product_id), 0)
        changes.append(
            Change(
                job.target.company_id,
                product.product_id,
                product.cw_product_id,
                "error",
                quantity,
                error=message,
                advice=advice,
            )
        )
    job.ledger.record_many([(_entry(job, change), "failed") for change in changes], [])
    products = {p.product_id: p for p in job.context.products}
    return [_report(job, products[c.product_id], c) for c in changes]


def _wanted(job: AgreementJob) -> list[Wanted]:
    target, context = job.target, job.context
    wants = []
    for product in context.products:
        link = context.links.get((target.company_id, product.product_id))
        linked = link.addition_id if link and link.agreement_id == target.agreement_id else None
        quantity = context.counts.get((target.company_id, product.product_id), 0)
        wants.append(
            Wanted(target.company_id, product.product_id, product.cw_product_id, quantity, linked)
        )
    return wants


def _link(job: AgreementJob, change: Change, addition_id: int, quantity: float) -> Link:
    return Link(
        change.company_id, change.product_id, job.target.agreement_id, addition_id, quantity
    )


def _update(job: AgreementJob, product: MappedProduct, change: Change) -> ItemReport:
    item = job.ledger.intent(_entry(job, change))
    try:
        addition = job.client.set_addition_quantity(
            job.target.agreement_id, change.addition_id, change.quantity_after
        )
    except TransientError as exc:
        # The PATCH may have landed: the intent stays open and the next run settles it.
        job.ledger.complete(item, "intent", error=str(exc), advice=exc.advice)
        return _report(job, product, change, action="error", error=str(exc), advice=exc.advice)
    except ConnectWiseError as exc:
        job.ledger.complete(item, "failed", error=str(exc), advice=exc.advice)
        return _report(job, product, change, action="error", error=str(exc), advice=exc.advice)
    job.ledger.complete(item, "done", link=_link(job, change, addition.id, addition.quantity))
    return _report(job, product, change)


def _pause_after(exc: ConnectWiseError) -> None:
    response = getattr(exc, "response", None)
    retry_after = response.headers.get("Retry-After") if response is not None else None
    if retry_after and retry_after.isdigit():
        time.sleep(min(int(retry_after), 10))


def _create(job: AgreementJob, product: MappedProduct, change: Change) -> ItemReport:
    description = f"{product.name} ({product.code}) users, kept by billing-sync"
    failure: ConnectWiseError | None = None
    for _attempt in range(CREATE_ATTEMPTS):
        item = job.ledger.intent(_entry(job, change))
        try:
            addition = job.client.create_addition(
                job.target.agreement_id,
                product_id=change.cw_product_id,
                quantity=change.quantity_after,
                effective_date=job.effective_date,
                description=description,
            )
        except ConfigurationError as exc:
            job.ledger.complete(item, "failed", error=str(exc), advice=exc.advice)
            return _report(job, product, change, action="error", error=str(exc), advice=exc.advice)
        except TransientError as exc:
            failure = exc
            found = _reread_after_failed_post(job, change, item, exc)
            if found is not None:
                return _report(job, product, change, addition_id=found.id)
            continue
        job.ledger.complete(
            item,
            "done",
            addition_id=addition.id,
            link=_link(job, change, addition.id, addition.quantity),
        )
        return _report(job, product, change, addition_id=addition.id)
    return _report(
        job,
        product,
        change,
        action="error",
        error=str(failure),
        advice=failure.advice if failure else None,
    )


def _reread_after_failed_post(
    job: AgreementJob, change: Change, item: int, exc: ConnectWiseError
) -> Addition | None:
    """A POST without a clear answer: look before creating again (never a blind retry)."""
    _pause_after(exc)
    try:
        active = job.client.agreement_additions(job.target.agreement_id, active_at=job.now)
    except ConnectWiseError as read_exc:
        # Unknown outcome and nothing to check against: leave the intent for the next run.
        job.ledger.complete(
            item, "intent", error=f"{exc}; re-read failed: {read_exc}", advice=exc.advice
        )
        raise _GiveUp(read_exc) from read_exc
    carrying = [a for a in active if a.product_id == change.cw_product_id]
    if len(carrying) == 1:
        job.ledger.complete(
            item,
            "done",
            addition_id=carrying[0].id,
            error=f"answer lost ({exc}); found the addition on re-read",
            link=_link(job, change, carrying[0].id, carrying[0].quantity),
        )
        return carrying[0]
    if carrying:
        ids = ", ".join(str(a.id) for a in carrying)
        job.ledger.complete(
            item,
            "failed",
            error=f"{exc}; re-read found several additions carrying the product ({ids})",
            advice=AMBIGUOUS_ADVICE,
        )
        raise _GiveUp(exc)
    job.ledger.complete(
        item, "failed", error=f"{exc}; not in ConnectWise on re-read", advice=exc.advice
    )
    return None


class _GiveUp(Exception):
    """The create's outcome cannot be checked now."""

    def __init__(self, cause: ConnectWiseError):
        super().__init__(str(cause))
        self.cause = cause


def record_decisions(job: AgreementJob, changes: list[Change]) -> None:
    """One transaction for every decision of an agreement that sends nothing."""
    entries, links = [], []
    for change in changes:
        if job.dry_run:
            entries.append((_entry(job, change), "planned"))
            continue
        entries.append((_entry(job, change), "failed" if change.action == "error" else "done"))
        if change.adopted and change.addition_id is not None:
            links.append(_link(job, change, change.addition_id, change.quantity_before))
    job.ledger.record_many(entries, links)


def apply_write(job: AgreementJob, product: MappedProduct, change: Change) -> ItemReport:
    """Send one write between its committed intent and its recorded outcome."""
    if change.action == "update":
        return _update(job, product, change)
    try:
        return _create(job, product, change)
    except _GiveUp as give_up:
        cause = give_up.cause
        return _report(job, product, change, action="error", error=str(cause), advice=cause.advice)


def process_agreement(job: AgreementJob) -> list[ItemReport]:
    """All of one company's items: one GET of the agreement's additions, then the writes."""
    try:
        active = job.client.agreement_additions(job.target.agreement_id, active_at=job.now)
    except ConnectWiseError as exc:
        return error_reports(job, f"reading additions failed: {exc}", exc.advice)
    if job.open_intents and not job.dry_run:
        cw_products = {p.product_id: p.cw_product_id for p in job.context.products}
        settle(
            job.ledger.factory,
            job.open_intents,
            active,
            cw_products,
            run_id=job.ledger.run_id,
            now=job.ledger.clock(),
        )
    products = {p.product_id: p for p in job.context.products}
    changes = plan_agreement(_wanted(job), active)
    writes = [c for c in changes if c.is_write and not job.dry_run]
    record_decisions(job, [c for c in changes if c not in writes])
    written = {id(c): apply_write(job, products[c.product_id], c) for c in writes}
    return [written.get(id(c)) or _report(job, products[c.product_id], c) for c in changes]

"""The bounded-concurrent part of a run: agreement lookups, then one job per agreement."""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextvars import copy_context
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update

from billing_sync.agreement_suggestions import detect_in_run
from billing_sync.connectwise.errors import ConnectWiseError, PermissionDenied
from billing_sync.connectwise.operations import AgreementBilling
from billing_sync.connectwise.records import Agreement
from billing_sync.models import Run
from billing_sync.periods import addition_effective_date
from billing_sync.planning import current_additions
from billing_sync.sync.agreement_checks import agreement_problems
from billing_sync.sync.apply import AgreementJob, error_reports, process_agreement, settle_unusable
from billing_sync.sync.gather import RunContext
from billing_sync.sync.health_record import note_run_health
from billing_sync.sync.ledger import Ledger, open_intents
from billing_sync.sync.report import ItemReport
from billing_sync.sync.writes import WriteTiming, settle, split_ripe

log = logging.getLogger(__name__)
INTERNAL_ADVICE = "A bug in billing-sync: the log has the details; the next run retries."
IDS_PER_LOOKUP = 100  # keeps the `id in (...)` condition well inside URL limits


@dataclass(frozen=True)
class FanOut:
    """How a run's agreements are worked through: concurrency, timing, and when to stop."""

    concurrency: int
    timing: WriteTiming
    attempts: int
    progress: Callable[[int, int], None] | None
    stop: threading.Event | None
    lost: threading.Event
    clock: Callable[[], datetime]
    deadline: float | None = None  # time.monotonic() instant after which no agreement starts

    def past_deadline(self) -> bool:
        """True once the run's deadline (BILLING_SYNC_RUN_DEADLINE) has passed."""
        return self.deadline is not None and time.monotonic() >= self.deadline

    def halted(self) -> bool:
        """True once no further work may start: asked to stop, lease lost, or past the deadline."""
        asked = self.stop is not None and self.stop.is_set()
        return asked or self.lost.is_set() or self.past_deadline()


def lookup_agreements(
    pool: ThreadPoolExecutor, client: AgreementBilling, ids: set[int]
) -> dict[int, Agreement]:
    """Every mapped agreement in a few batched GETs, run side by side."""
    ordered = sorted(ids)
    chunks = [ordered[i : i + IDS_PER_LOOKUP] for i in range(0, len(ordered), IDS_PER_LOOKUP)]
    found: dict[int, Agreement] = {}
    for batch in pool.map(client.agreements_by_ids, chunks):
        found.update(batch)
    return found


def _save_progress(factory, run_id: int, done: int) -> None:
    with factory.begin() as session:
        session.execute(update(Run).where(Run.id == run_id).values(done_items=done))


def _jobs(factory, handle, context: RunContext, client, ledger: Ledger, plan: FanOut):
    intents = defaultdict(list)
    with factory() as session:  # previews read them too: a pending write blocks its item
        for item in open_intents(session, handle.partner_id, before_run=handle.run_id):
            intents[item.agreement_id].append(item)
    effective = addition_effective_date(handle.now, context.timezone)
    jobs = []
    for target in context.targets:
        jobs.append(
            AgreementJob(
                target=target,
                context=context,
                ledger=ledger,
                client=client,
                now=handle.now,
                effective_month=effective,
                dry_run=handle.dry_run,
                open_intents=intents.pop(target.agreement_id, []),
                timing=plan.timing,
                attempts=plan.attempts,
                lost=plan.lost,
            )
        )
    return jobs, intents


def settle_orphans(ledger: Ledger, client, intents: dict, context: RunContext, now) -> None:
    """Settle earlier runs' intents on agreements this run did not visit (re-mapped since)."""
    cw_products = {p.product_id: p.cw_product_id for p in context.products}
    for agreement_id, items in intents.items():
        try:
            listed = client.agreement_additions(agreement_id, active_at=now)
        except ConnectWiseError as exc:
            log.warning(
                "cannot settle %d open write(s) on agreement %s yet: %s",
                len(items),
                agreement_id,
                exc,
            )
            continue
        ripe, _in_flight = split_ripe(items, ledger.database_now())
        settle(ledger, ripe, current_additions(listed, agreement_id, now), cw_products)


def fan_out(
    factory,
    handle,
    context: RunContext,
    client: AgreementBilling,
    report,
    ledger: Ledger,
    plan: FanOut,
) -> bool:
    """Run every agreement's job on a bounded pool; returns True when stopped early."""
    jobs, orphans = _jobs(factory, handle, context, client, ledger, plan)
    total = len(jobs) * len(context.products)
    skipped = 0
    saved_at = plan.clock()
    with ThreadPoolExecutor(max_workers=max(1, plan.concurrency)) as pool:
        try:
            agreements = lookup_agreements(pool, client, {t.agreement_id for t in context.targets})
        except PermissionDenied:  # the run fails; its health says which permission is missing
            note_run_health(factory, handle, context, client, jobs, None, halted=True)
            raise

        def work(job: AgreementJob) -> list[ItemReport] | None:
            if plan.halted():
                return None  # the items in flight finish; the rest wait for the next run
            try:
                job.agreement = agreements.get(job.target.agreement_id)
                problem = agreement_problems(job.target, job.agreement, handle.now)
                if problem:
                    settle_unusable(job)
                    return error_reports(job, *problem)
                return process_agreement(job)
            except Exception as exc:  # noqa: BLE001 - one company's failure is that company's
                log.exception("agreement %s failed unexpectedly", job.target.agreement_id)
                return error_reports(job, f"internal error: {exc}", INTERNAL_ADVICE)

        # Each job runs in a copy of this context, so its log lines name the partner and run.
        submitted = [pool.submit(copy_context().run, work, job) for job in jobs]
        for future in as_completed(submitted):
            result = future.result()
            if result is None:
                skipped += 1
                continue
            report.items.extend(result)
            if plan.progress is not None:
                plan.progress(len(report.items), total)
            if (plan.clock() - saved_at).total_seconds() >= 1:  # progress for pages, not per item
                saved_at = plan.clock()
                _save_progress(factory, handle.run_id, len(report.items))
    report.items.sort(key=lambda i: (i.company_name.casefold(), i.company, i.product))
    detect_in_run(factory, handle.partner_id, context.targets, agreements, client, handle.now)
    note_run_health(factory, handle, context, client, jobs, agreements, halted=plan.halted())
    if orphans and not handle.dry_run and not plan.lost.is_set():
        settle_orphans(ledger, client, orphans, context, handle.now)
    return skipped > 0

"""The bounded-concurrent part of a run: agreement lookups, then one job per agreement."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime

from sqlalchemy import update

from billing_sync.connectwise.operations import AgreementBilling
from billing_sync.connectwise.records import Agreement
from billing_sync.models import Run
from billing_sync.periods import addition_effective_date
from billing_sync.sync.agreement_checks import agreement_problems
from billing_sync.sync.apply import AgreementJob, ItemReport, error_reports, process_agreement
from billing_sync.sync.gather import RunContext
from billing_sync.sync.ledger import Ledger, open_intents, settle_orphans

IDS_PER_LOOKUP = 100  # keeps the `id in (...)` condition well inside URL limits


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


def _jobs(
    factory, handle, context: RunContext, client: AgreementBilling, ledger: Ledger, timezone: str
):
    intents = defaultdict(list)
    if not handle.dry_run:
        with factory() as session:
            for item in open_intents(session, handle.partner_id, before_run=handle.run_id):
                intents[item.agreement_id].append(item)
    effective = addition_effective_date(handle.now, timezone)
    jobs = [
        AgreementJob(
            t,
            context,
            ledger,
            client,
            handle.now,
            effective,
            handle.dry_run,
            intents.pop(t.agreement_id, []),
        )
        for t in context.targets
    ]
    return jobs, intents


def fan_out(
    factory,
    handle,
    context: RunContext,
    client: AgreementBilling,
    timezone: str,
    report,
    *,
    concurrency: int,
    progress: Callable[[int, int], None] | None,
    stop: threading.Event | None,
    lost: threading.Event,
    clock: Callable[[], datetime],
) -> bool:
    """Run every agreement's job on a bounded pool; returns True when stopped early."""
    ledger = Ledger(factory, handle.run_id, handle.partner_id, clock)
    jobs, orphans = _jobs(factory, handle, context, client, ledger, timezone)
    total = len(jobs) * len(context.products)
    skipped = 0
    saved_at = clock()
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        agreements = lookup_agreements(pool, client, {t.agreement_id for t in context.targets})

        def work(job: AgreementJob) -> list[ItemReport] | None:
            if (stop is not None and stop.is_set()) or lost.is_set():
                return None  # the items in flight finish; the rest wait for the next run
            agreement = agreements.get(job.target.agreement_id)
            problem = agreement_problems(job.target, agreement, handle.now)
            return error_reports(job, *problem) if problem else process_agreement(job)

        for future in as_completed([pool.submit(work, job) for job in jobs]):
            result = future.result()
            if result is None:
                skipped += 1
                continue
            report.items.extend(result)
            if progress is not None:
                progress(len(report.items), total)
            if (clock() - saved_at).total_seconds() >= 1:  # progress for pages, not per item
                saved_at = clock()
                _save_progress(factory, handle.run_id, len(report.items))
    report.items.sort(key=lambda i: (i.company_name.casefold(), i.company, i.product))
    if orphans and not handle.dry_run:
        cw_products = {p.product_id: p.cw_product_id for p in context.products}
        settle_orphans(ledger, client, orphans, cw_products, handle.now)
    return skipped > 0

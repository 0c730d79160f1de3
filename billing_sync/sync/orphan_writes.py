"""Recorded orphan actions: set an addition to 0, or adopt it, each in a run of its own.

Both first check the request against a live read (no run is begun for a refusal), then begin a
run (trigger "orphan") that takes the partner's lease like any run, read the agreement again,
and act on what ConnectWise shows then. A set to 0 goes through `send_write`: an intent, the
PATCH, the outcome; an unanswered one stays open and a later run settles it. Never a DELETE.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from billing_sync.connectwise.errors import ConnectWiseError
from billing_sync.errors import BillingSyncError, Conflict, InvalidInput, NotFoundError
from billing_sync.lease import LeaseLost, release_lease
from billing_sync.models import AdditionLink, Partner, Run
from billing_sync.orphans import Facts, Orphan, OrphanReport, find_orphans
from billing_sync.partner_connection import client_for
from billing_sync.planning import Change
from billing_sync.settings import Settings
from billing_sync.sync.ledger import Entry, Ledger, Link, open_intents
from billing_sync.sync.report import ItemReport, RunReport
from billing_sync.sync.runner import begin_run
from billing_sync.sync.writes import (
    UNKNOWN_ADVICE,
    Outcome,
    WriteTarget,
    WriteTiming,
    send_write,
    settle,
    split_ripe,
)
from billing_sync.text import clip_optional

ADOPTED = "adopted by hand from the Orphans list: billing-sync keeps this addition from now on"
IN_FLIGHT = "an earlier write to this addition (run {run}) may still land; try again after {at}"


@dataclass(frozen=True)
class OrphanAction:
    """Who asks, on which partner, with what ConnectWise client and clock."""

    factory: sessionmaker[Session]
    settings: Settings
    partner_id: int
    now: datetime
    clock: Callable[[], datetime]
    client: object | None = None  # the partner's client when None; a page passes a bounded one


def _checked(action: OrphanAction, addition_ids: list[int], agreements=None) -> OrphanReport:
    """The live list, refusing (all or none) ids that are not this partner's orphans."""
    if not addition_ids:
        raise InvalidInput("name at least one addition id")
    with action.factory() as session:
        if session.get(Partner, action.partner_id) is None:
            raise NotFoundError(f"no partner with id {action.partner_id}")
        with _client(action, session) as client:
            report, facts = find_orphans(
                session, client, action.partner_id, now=action.now, agreements=agreements
            )
    if report.problems and any(report.find(i) is None for i in addition_ids):
        raise Conflict("; ".join(report.problems[:3]))  # it may sit on an agreement not read
    seen = {a.id: a for active in report.read.values() for a in active}
    for addition_id in addition_ids:
        if report.find(addition_id) is not None:
            continue
        if addition_id not in seen:
            raise NotFoundError(
                f"no addition {addition_id} on this partner's mapped or synced agreements"
            )
        if facts.owner(seen[addition_id]) or facts.item_of(seen[addition_id].product_id):
            raise Conflict(
                f"addition {addition_id} is not an orphan: billing-sync manages it (or the "
                "next sync does); change its count instead"
            )
        raise Conflict(
            f"addition {addition_id} is not billing-sync's: its catalog item is not mapped; "
            "change it in ConnectWise"
        )
    return report


@contextmanager
def _client(action: OrphanAction, session: Session):
    """The action's client, or the partner's own (closed afterwards)."""
    if action.client is not None:
        yield action.client
        return
    with client_for(session, action.settings, action.partner_id) as client:
        yield client


def _refuse_disabled(action: OrphanAction) -> None:
    with action.factory() as session:
        if not session.get(Partner, action.partner_id).integration_enabled:
            raise Conflict(
                "the ConnectWise integration is disabled for this partner: nothing was written"
            )


def _item(orphan: Orphan, action: str, after: float | None, **extra) -> ItemReport:
    return ItemReport(
        company=orphan.company or "",
        company_name=orphan.company_name or "",
        product=orphan.product or "",
        agreement_id=orphan.agreement_id,
        addition_id=orphan.addition_id,
        action=action,
        quantity_before=orphan.quantity,
        quantity_after=after,
        **extra,
    )


def _entry(orphan: Orphan, action: str, after: float | None, **extra) -> Entry:
    return Entry(
        orphan.company_id,
        orphan.product_id,
        orphan.agreement_id,
        action,
        orphan.quantity,
        after,
        orphan.addition_id,
        **extra,
    )


def _finish(action: OrphanAction, run_id: int, report: RunReport, status: str | None) -> None:
    actions = [i.action for i in report.items]
    errors = actions.count("error")
    partly = "failed" if errors == len(actions) else "partial"
    report.status = status or ("succeeded" if not errors else partly)
    with action.factory.begin() as session:
        session.execute(
            update(Run)
            .where(Run.id == run_id)
            .values(
                status=report.status,
                finished_at=action.clock(),
                message=clip_optional(report.message),
                total_items=len(actions),
                done_items=len(actions),
                updated=actions.count("update"),
                unchanged=actions.count("unchanged"),
                skipped=actions.count("skipped"),
                errors=errors,
            )
        )


@dataclass
class Pass:
    """What an orphan run works with once it holds the lease and has re-read ConnectWise."""

    ledger: Ledger
    client: object
    fresh: OrphanReport
    facts: Facts
    pending: dict  # addition id or (company, product, agreement) -> an open intent in flight
    timing: WriteTiming
    attempts: int


def _run(action: OrphanAction, involved: set[int], work: Callable[[Pass], list]) -> RunReport:
    """Begin the orphan run, re-read the agreements involved under its lease, do `work`."""
    _refuse_disabled(action)
    settings = action.settings
    handle = begin_run(
        action.factory, settings, action.partner_id, now=action.now, trigger="orphan"
    )
    timing = WriteTiming.from_settings(settings.cw_timeout_seconds, settings.settle_margin_seconds)
    ledger = Ledger(
        action.factory,
        handle.run_id,
        action.partner_id,
        action.clock,
        lease=handle.lease,
        lease_seconds=settings.lease_seconds,
        settle_after=timing.settle_after,
    )
    result = RunReport(handle.run_id, "running")
    status = None
    try:
        with action.factory() as session, _client(action, session) as client:
            fresh, facts = find_orphans(
                session, client, action.partner_id, now=action.now, agreements=involved
            )
            if fresh.problems:  # nothing is written on what could not be read again
                status, result.message = "failed", "; ".join(fresh.problems[:3])
                return result
            pending = _settle(session, ledger, handle.run_id, fresh, facts)
            attempts = settings.cw_max_retries + 1
            result.items = work(Pass(ledger, client, fresh, facts, pending, timing, attempts))
    except LeaseLost as exc:
        status, result.message = "interrupted", f"stopped: {exc}; nothing more was sent"
    except Exception as exc:  # the run row must never stay "running"
        said = isinstance(exc, ConnectWiseError | BillingSyncError)
        status, result.message = "failed", str(exc) if said else f"internal error: {exc}"
        raise
    finally:
        _finish(action, handle.run_id, result, status)
        release_lease(action.factory, handle.lease)
    return result


def _settle(session, ledger: Ledger, run_id: int, fresh: OrphanReport, facts: Facts) -> dict:
    """Settle ripe open intents on the agreements read; the rest block their additions."""
    by_agreement: dict[int, list] = {}
    for item in open_intents(session, ledger.partner_id, before_run=run_id):
        if item.agreement_id in fresh.read:
            by_agreement.setdefault(item.agreement_id, []).append(item)
    pending = {}
    for agreement_id, items in by_agreement.items():
        ripe, in_flight = split_ripe(items, ledger.database_now())
        settle(ledger, ripe, fresh.read[agreement_id], facts.products)
        pending.update({(i.company_id, i.product_id, i.agreement_id): i for i in in_flight})
        pending.update({i.addition_id: i for i in in_flight if i.addition_id})
    return pending


def _blocked_by(orphan: Orphan, pending: dict):
    return pending.get(orphan.addition_id) or pending.get(
        (orphan.company_id, orphan.product_id, orphan.agreement_id)
    )


def zero_additions(
    action: OrphanAction,
    addition_ids: list[int],
    *,
    dry_run: bool = False,
    agreements: set[int] | None = None,
) -> RunReport:
    """Set orphans to quantity 0 (never a delete), in a run of its own; all ids checked first.

    `agreements`: where the additions sit, when the caller knows (a page): only those are read.
    """
    wanted = sorted(set(addition_ids))
    checked = _checked(action, wanted, agreements)
    if dry_run:
        items = [
            _item(o, "skipped" if abs(o.quantity) < 1e-6 else "update", 0.0)
            for o in map(checked.find, wanted)
        ]
        return RunReport(None, "planned", items=items)
    involved = {checked.find(i).agreement_id for i in wanted}
    return _run(action, involved, lambda work: [_zero_one(work, i) for i in wanted])


def _gone(addition_id: int) -> ItemReport:
    reason = "no longer an orphan (managed, cancelled or gone since it was listed)"
    return ItemReport("", "", "", None, addition_id, "skipped", None, None, error=reason)


def _in_flight(work: Pass, orphan: Orphan) -> ItemReport | None:
    """Refuse (recorded) while an earlier write to this addition may still land."""
    intent = _blocked_by(orphan, work.pending)
    if intent is None:
        return None
    at = f"{intent.settle_after:%Y-%m-%d %H:%M:%S} UTC" if intent.settle_after else "a while"
    error = IN_FLIGHT.format(run=intent.run_id, at=at)
    work.ledger.record_many([(_entry(orphan, "error", None, error=error), "failed")], [])
    return _item(orphan, "error", None, error=error)


def _zero_one(work: Pass, addition_id: int) -> ItemReport:
    orphan = work.fresh.find(addition_id)
    if orphan is None:
        return _gone(addition_id)
    if (refused := _in_flight(work, orphan)) is not None:
        return refused
    if abs(orphan.quantity) < 1e-6:
        note = "already 0: nothing to write"  # advice, not an error: nothing is wrong
        work.ledger.record_many([(_entry(orphan, "skipped", 0.0, advice=note), "done")], [])
        return _item(orphan, "skipped", 0.0, advice=note)
    link = work.facts.links.get((orphan.company_id, orphan.product_id))
    change = Change(
        orphan.company_id,
        orphan.product_id,
        orphan.cw_product_id,
        "update",
        0,
        orphan.addition_id,
        orphan.quantity,
    )
    target = WriteTarget(
        agreement_id=orphan.agreement_id,
        effective_date=work.fresh.checked_at,  # a PATCH of the quantity sends no date
        description="",
        period=None,
        next_invoice_date=None,
        prorate_flag=None,
        keeps_link=link is not None and link.addition_id == orphan.addition_id,
    )
    result = send_write(
        work.client, work.ledger, target, change, timing=work.timing, attempts=work.attempts
    )
    if result.outcome is Outcome.DONE:
        return _item(orphan, "update", 0.0)
    if result.outcome is Outcome.UNKNOWN:
        error = f"outcome unknown: {result.error}"
        return _item(orphan, "error", 0.0, error=error, advice=UNKNOWN_ADVICE)
    return _item(orphan, "error", 0.0, error=result.error, advice=result.advice)


def adopt_addition(
    action: OrphanAction, addition_id: int, agreement_id: int | None = None
) -> RunReport:
    """Make billing-sync manage an unowned addition on a mapped agreement, in a run of its own."""
    checked = _checked(action, [addition_id], None if agreement_id is None else {agreement_id})
    if (refusal := checked.find(addition_id).refusal) is not None:
        raise Conflict(f"addition {addition_id} cannot be adopted: {refusal}")
    involved = {checked.find(addition_id).agreement_id}
    return _run(action, involved, lambda work: [_adopt_one(work, addition_id)])


def _adopt_one(work: Pass, addition_id: int) -> ItemReport:
    orphan = work.fresh.find(addition_id)
    if orphan is None or orphan.refusal is not None:
        why = orphan.refusal if orphan else "it is no longer an orphan"
        return ItemReport("", "", "", None, addition_id, "error", None, None, error=why)
    if (refused := _in_flight(work, orphan)) is not None:
        return refused
    link = Link(
        orphan.company_id, orphan.product_id, orphan.agreement_id, addition_id, orphan.quantity
    )
    entry = _entry(orphan, "unchanged", orphan.quantity, advice=ADOPTED)
    work.ledger.record_many([(entry, "done")], [link])
    with work.ledger.factory.begin() as session:  # another addition: a drift "adopt" pause ends
        session.execute(
            update(AdditionLink)
            .where(
                AdditionLink.company_id == orphan.company_id,
                AdditionLink.product_id == orphan.product_id,
            )
            .values(adopted_at_count=None)
        )
    return _item(orphan, "unchanged", orphan.quantity, advice=ADOPTED)

"""The life of one ConnectWise write: plan -> intent -> send -> outcome -> settlement.

1. Plan: planning.py decides a `create` or an `update` (absolute quantity).
2. Intent: a ledger row is committed in the transaction that proves the run still holds its
   lease (fencing). It records `settle_after`, the database time after which another run may
   decide its outcome. A run that lost its lease cannot commit an intent, so it sends nothing.
3. Send: only within `WriteTiming.window` seconds of the intent. A POST is sent once, never again
   for that intent, and stamps the addition with `marker(intent)` in `serialNumber`, a field
   ConnectWise keeps and does not print on invoices. A PATCH may be repeated within the window:
   its quantity is absolute, so a repeat cannot change the result.
4. Outcome: `done` (the answer was read), `failed` (ConnectWise refused: nothing happened), or
   unknown (no answer, a 5xx, a garbled body): the intent stays open.
5. Settlement: a later run, once `settle_after` has passed, looks at the agreement: a create is
   done if an addition carries its marker, an update if the addition shows its quantity; else
   failed. Until then the item is blocked, so nothing can race the write still in flight.

`settle_after` = window + request timeout + margin: a request starts inside the window, its
bytes leave within the timeout (connect included), and the margin (BILLING_SYNC_SETTLE_MARGIN,
30 s by default) covers a server that commits after we stopped waiting for its answer.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum

from billing_sync.connectwise.errors import (
    ConfigurationError,
    ConnectionFailed,
    ConnectWiseError,
    RateLimited,
    TransientError,
)
from billing_sync.connectwise.operations import AgreementBilling
from billing_sync.connectwise.records import Addition
from billing_sync.models import RunItem
from billing_sync.planning import Change
from billing_sync.sync.ledger import Entry, Intent, Ledger, Link

log = logging.getLogger(__name__)
MARKER_PREFIX = "billing-sync:"
SEND_SLACK = 2.0  # seconds from committing an intent to starting its request, at the very most
UNKNOWN_ADVICE = (
    "ConnectWise may still apply this write; billing-sync writes nothing more to this item "
    "until a later run has checked what ConnectWise shows (no second create is ever sent)."
)


class Outcome(Enum):
    """How a sent write ended, as the ledger state it leaves."""

    DONE = "done"
    FAILED = "failed"
    UNKNOWN = "intent"


@dataclass(frozen=True)
class WriteTiming:
    """Seconds that bound a write: when it may be sent, and when another run may settle it."""

    window: float
    settle_after: float

    @classmethod
    def from_settings(cls, timeout: float, margin: float) -> WriteTiming:
        """Window = slack + one timeout (room for a PATCH repeat); settle: one more + margin."""
        window = SEND_SLACK + timeout
        return cls(window=window, settle_after=window + timeout + margin)


@dataclass(frozen=True)
class WriteResult:
    """What one write did, for the run report."""

    outcome: Outcome
    addition: Addition | None = None
    error: str | None = None
    advice: str | None = None
    rate_limited: RateLimited | None = None  # a refused create that may be tried again
    status: int | None = None  # ConnectWise's HTTP status of a refused write (403: permission)


@dataclass(frozen=True)
class WriteTarget:
    """Where a write goes and what the ledger row records about the agreement."""

    agreement_id: int
    effective_date: datetime
    description: str
    period: date | None
    next_invoice_date: date | None
    prorate_flag: bool | None
    replanned: bool = False
    # The change bills only from the next invoice (see invoice_checklist.bills_next_invoice).
    bills_next_invoice: bool | None = None
    # False for a write to an addition billing-sync does not manage (an orphan set to 0): the
    # (company, product) link must keep naming the addition it manages.
    keeps_link: bool = True


def marker(intent_id: int) -> str:
    """The ownership marker a created addition carries: billing-sync and the intent."""
    return f"{MARKER_PREFIX}{intent_id}"


def entry_for(target: WriteTarget, change: Change, **overrides) -> Entry:
    """The ledger entry of one change on one agreement."""
    values = dict(
        company_id=change.company_id,
        product_id=change.product_id,
        agreement_id=target.agreement_id,
        action=change.action,
        quantity_before=change.quantity_before,
        quantity_after=change.quantity_after,
        addition_id=change.addition_id,
        error=change.error,
        advice=change.advice,
        replanned=target.replanned,
        next_invoice_date=target.next_invoice_date,
        prorate_flag=target.prorate_flag,
        bills_next_invoice=target.bills_next_invoice if change.is_write else None,
    )
    values.update(overrides)
    return Entry(**values)


def link_for(target: WriteTarget, change: Change, addition_id: int, quantity: float) -> Link:
    """The link a successful write (or adoption) leaves behind."""
    return Link(
        change.company_id,
        change.product_id,
        target.agreement_id,
        addition_id,
        quantity,
        target.period,
    )


def _post_outcome(exc: ConnectWiseError) -> Outcome:
    """A refused POST did nothing; a lost, 5xx or garbled answer may hide a created addition."""
    if isinstance(exc, RateLimited | ConfigurationError | ConnectionFailed):
        return Outcome.FAILED  # 429, 4xx, or the connection failed before a byte was sent
    if not isinstance(exc, TransientError) and exc.status is not None and exc.status < 500:
        return Outcome.FAILED  # e.g. 409 Conflict
    return Outcome.UNKNOWN


def _patch_outcome(exc: ConnectWiseError) -> Outcome:
    if isinstance(exc, ConfigurationError):
        return Outcome.FAILED
    if not isinstance(exc, TransientError) and exc.status is not None and 400 <= exc.status < 500:
        return Outcome.FAILED
    return Outcome.UNKNOWN  # an earlier attempt may have landed: settlement reads the quantity


def _pause(exc: ConnectWiseError, until: float) -> bool:
    """Sleep as ConnectWise asked (capped); False when no time is left in the window."""
    response = getattr(exc, "response", None)
    retry_after = response.headers.get("Retry-After") if response is not None else None
    wait = float(retry_after) if retry_after and retry_after.isdigit() else 0.5
    if time.monotonic() + wait >= until:
        return False
    time.sleep(wait)
    return True


def send_write(
    client: AgreementBilling,
    ledger: Ledger,
    target: WriteTarget,
    change: Change,
    *,
    timing: WriteTiming,
    attempts: int,
) -> WriteResult:
    """Open the intent, send within the window, record the outcome. Raises LeaseLost.

    A create refused with 429 did nothing, so it may be tried again, each try its own intent.
    """
    for _attempt in range(max(1, attempts)):
        started = time.monotonic()
        intent = ledger.open_intent(entry_for(target, change))
        send_by = started + timing.window  # measured from before the intent: conservative
        if change.action == "create":
            result = _create(client, target, change, intent, send_by)
            if result.outcome is Outcome.UNKNOWN:
                result = _look_for_marker(client, target, intent, result)
        else:
            result = _update(client, target, change, send_by, attempts)
        _record(ledger, target, change, intent, result)
        if not result.rate_limited or not _pause(result.rate_limited, time.monotonic() + 10):
            return result
    return result


def _create(
    client: AgreementBilling, target: WriteTarget, change: Change, intent: Intent, send_by: float
) -> WriteResult:
    if time.monotonic() >= send_by:
        return WriteResult(Outcome.FAILED, error="not sent: the write window had passed")
    try:
        addition = client.create_addition(
            target.agreement_id,
            product_id=change.cw_product_id,
            quantity=change.quantity_after,
            effective_date=target.effective_date,
            description=target.description,
            marker=marker(intent.id),
        )
    except RateLimited as exc:
        return WriteResult(
            Outcome.FAILED, error=str(exc), advice=exc.advice, rate_limited=exc, status=exc.status
        )
    except ConnectWiseError as exc:
        return WriteResult(_post_outcome(exc), error=str(exc), advice=exc.advice, status=exc.status)
    except Exception as exc:  # noqa: BLE001 - a bug after sending must not lose the intent
        log.exception("create on agreement %s failed unexpectedly", target.agreement_id)
        return WriteResult(Outcome.UNKNOWN, error=f"internal error after sending: {exc}")
    return WriteResult(Outcome.DONE, addition)


def _look_for_marker(
    client: AgreementBilling, target: WriteTarget, intent: Intent, unknown: WriteResult
) -> WriteResult:
    """After an unknown create, one read: finding our marker proves it landed; not finding it
    proves nothing (ConnectWise may commit later), so the intent then stays open."""
    try:
        listed = client.agreement_additions(target.agreement_id, active_at=intent.fenced_at)
    except ConnectWiseError:
        return unknown
    for addition in listed:
        if (
            addition.serial_number == marker(intent.id)
            and addition.agreement_id == target.agreement_id
        ):
            return WriteResult(
                Outcome.DONE, addition, error=f"answer lost ({unknown.error}); found on re-read"
            )
    return unknown


def _update(
    client: AgreementBilling, target: WriteTarget, change: Change, send_by: float, attempts: int
) -> WriteResult:
    """PATCH, repeated on transient trouble while the window lasts (the value is absolute)."""
    result = WriteResult(Outcome.FAILED, error="not sent: the write window had passed")
    for _attempt in range(max(1, attempts)):
        if time.monotonic() >= send_by:
            break
        try:
            addition = client.set_addition_quantity(
                target.agreement_id, change.addition_id, change.quantity_after
            )
            return WriteResult(Outcome.DONE, addition)
        except ConnectWiseError as exc:
            outcome = _patch_outcome(exc)
            if result.outcome is Outcome.UNKNOWN:
                outcome = Outcome.UNKNOWN  # an earlier attempt may have landed
            result = WriteResult(outcome, error=str(exc), advice=exc.advice, status=exc.status)
            if outcome is Outcome.FAILED or not _pause(exc, send_by):
                break
        except Exception as exc:  # noqa: BLE001 - a bug after sending must not lose the intent
            log.exception("update on agreement %s failed unexpectedly", target.agreement_id)
            return WriteResult(Outcome.UNKNOWN, error=f"internal error after sending: {exc}")
    return result


def _record(
    ledger: Ledger, target: WriteTarget, change: Change, intent: Intent, result: WriteResult
) -> None:
    if result.outcome is Outcome.DONE:
        addition = result.addition
        link = (
            link_for(target, change, addition.id, addition.quantity) if target.keeps_link else None
        )
        ledger.complete(intent.id, "done", addition_id=addition.id, error=result.error, link=link)
    elif result.outcome is Outcome.FAILED:
        ledger.complete(
            intent.id, "failed", error=result.error, advice=result.advice, http_status=result.status
        )
    else:
        ledger.note_open(intent.id, error=f"outcome unknown: {result.error}", advice=UNKNOWN_ADVICE)


def settlement(
    item: RunItem, active: list[Addition], cw_product_id: int | None
) -> tuple[str, int | None]:
    """From what ConnectWise shows, did an open intent land: (state, addition id)."""
    if item.action == "update":
        for addition in active:
            if (
                addition.id == item.addition_id
                and abs(addition.quantity - (item.quantity_after or 0)) < 1e-6
            ):
                return "settled_done", addition.id
        return "settled_failed", item.addition_id
    for addition in active:
        if addition.serial_number == marker(item.id):
            return "settled_done", addition.id
    if item.settle_after is None:  # written before markers existed: the lone carrier is ours
        carrying = [a for a in active if a.product_id == cw_product_id]
        if len(carrying) == 1:
            return "settled_done", carrying[0].id
    return "settled_failed", None


def split_ripe(items: list[RunItem], now: datetime) -> tuple[list[RunItem], list[RunItem]]:
    """Open intents another run may decide now (settle_after passed), and those still in flight."""
    ripe = [i for i in items if i.settle_after is None or i.settle_after <= now]
    return ripe, [i for i in items if i not in ripe]


def settle(
    ledger: Ledger, items: list[RunItem], active: list[Addition], cw_products: dict[int, int]
) -> None:
    """Decide open intents from what ConnectWise shows, noting which run settled them."""
    decided, links = [], []
    for item in items:
        state, addition_id = settlement(item, active, cw_products.get(item.product_id))
        verb = "reached" if state == "settled_done" else "did not reach"
        note = f"{verb} ConnectWise (checked by run {ledger.run_id})"
        decided.append((item.id, state, addition_id, note))
        if state == "settled_done" and item.action == "update":
            # The link says what we last wrote: drift compares ConnectWise with it.
            links.append(
                Link(
                    item.company_id,
                    item.product_id,
                    item.agreement_id,
                    item.addition_id,
                    item.quantity_after,
                )
            )
    ledger.settle_many(decided, links)

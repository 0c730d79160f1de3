"""Guardrails on one agreement's plan: hold suspicious writes, notice hand edits (drift).

Runs between planning and sending. A held write is not sent: it becomes a ledger item with
action `held` and a Hold row a person approves or rejects. A hand edit (ConnectWise no longer
shows what billing-sync last wrote) becomes a Drift row, and the partner's drift policy decides
whether the count overwrites it, is held, or the hand-set value is adopted. Previews report the
same decisions but store nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from zoneinfo import ZoneInfo

from sqlalchemy import update

from billing_sync.connectwise.records import Addition
from billing_sync.hold_judging import Verdict, judge, shown
from billing_sync.models import AdditionLink, Drift, Hold
from billing_sync.planning import TOLERANCE, Change
from billing_sync.sync.guard_state import GuardState, Pair
from billing_sync.sync.report import ItemReport

WRITES = ("create", "update")


@dataclass
class Effects:
    """What one agreement's review stores (in one transaction) and settles after its writes."""

    new_holds: list[Hold] = field(default_factory=list)
    superseded: list[int] = field(default_factory=list)  # hold ids
    new_drifts: list[Drift] = field(default_factory=list)
    resolved: list[tuple[int, str]] = field(default_factory=list)  # (drift id, note)
    links: list[tuple[Pair, dict]] = field(default_factory=list)  # AdditionLink values to set
    approved: dict[Pair, int] = field(default_factory=dict)  # approved hold id per write
    overwrites: set[Pair] = field(default_factory=set)  # drift a write overwrites


@dataclass
class Review:
    """One agreement's guardrail pass: the shared inputs, and what it decided to store."""

    guard: GuardState
    job: object  # apply.AgreementJob (not imported: apply imports this module)
    additions: dict[int, Addition]
    effects: Effects = field(default_factory=Effects)

    @property
    def run_id(self) -> int:
        return self.job.ledger.run_id

    def when(self, addition: Addition | None) -> str:
        """When ConnectWise says the addition changed, in the partner's zone."""
        if addition is None or addition.updated_at is None:
            return "at an unknown time"
        local = addition.updated_at.astimezone(ZoneInfo(self.job.context.timezone))
        return f"on {local:%Y-%m-%d %H:%M %Z}"


def _same(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and abs(a - b) < TOLERANCE


def review_changes(job, changes: list[Change], active: list) -> tuple[list[Change], Effects]:
    """The plan after the guardrails; stores holds and drift (not in a preview)."""
    guard = job.context.guard
    if guard is None:
        return changes, Effects()
    review = Review(guard, job, {a.id: a for a in active})
    reviewed = [_one(review, change) for change in changes]
    if not job.dry_run:
        _store(job, review.effects)
    return reviewed, review.effects


def _one(review: Review, change: Change) -> Change:
    if change.action not in (*WRITES, "unchanged"):
        return change  # blocked, duplicate, zero-count skip: nothing to guard
    pair = (change.company_id, change.product_id)
    forced = None
    link = review.job.context.links.get(pair)
    if _manages(review, change, link):
        if not any(_same(q, change.quantity_before) for q in _written(review, link)):
            outcome = _drift(review, change, link.quantity)
            if isinstance(outcome, Change):
                return outcome
            forced = outcome
        else:
            for drift in review.guard.drifts.get(pair, []):  # ConnectWise shows our value again
                note = f"ConnectWise shows {shown(link.quantity)} again (run {review.run_id})"
                review.effects.resolved.append((drift.id, note))
    if forced is None and (kept := _adopted(review, change)) is not None:
        return kept
    if change.action not in WRITES:
        prior = review.guard.holds.get(pair)
        if prior is not None and prior.status in ("open", "approved"):
            review.effects.superseded.append(prior.id)  # ConnectWise already shows the count
        return change
    return _hold_or_write(review, change, forced)


def _manages(review: Review, change: Change, link) -> bool:
    """Whether the addition carrying the item is the one billing-sync last wrote to."""
    return (
        link is not None
        and change.addition_id is not None
        and link.addition_id == change.addition_id
        and link.agreement_id == review.job.target.agreement_id
        and link.quantity is not None
    )


def _adopted(review: Review, change: Change) -> Change | None:
    """The item while a hand-set value stands (adopt policy), or None to plan it as usual."""
    pair = (change.company_id, change.product_id)
    adopted_at = review.guard.adopted.get(pair)
    if adopted_at is None:
        return None
    if adopted_at != change.quantity_after:
        review.effects.links.append((pair, {"adopted_at_count": None}))  # the count moved on
        return None
    if change.action not in WRITES:
        return change
    advice = (
        f"ConnectWise's hand-set {shown(change.quantity_before)} was adopted; "
        f"nothing is written while the count stays {adopted_at}"
    )
    return replace(change, action="unchanged", advice=advice)


def _written(review: Review, link) -> list[float]:
    """What billing-sync last wrote there: the link, or an earlier run's update settled now."""
    pair = (link.company_id, link.product_id)
    return [link.quantity] + [
        i.quantity_after
        for i in review.job.open_intents
        if (i.company_id, i.product_id) == pair
        and i.action == "update"
        and i.quantity_after is not None
    ]


def _drift(review: Review, change: Change, expected: float) -> Change | Verdict | None:
    """Record a hand edit; returns the item's new decision, a forced hold, or None (write)."""
    pair = (change.company_id, change.product_id)
    found, count = change.quantity_before, change.quantity_after
    addition = review.additions.get(change.addition_id)
    policy = review.guard.rules.partner.drift_policy
    known = None
    for drift in review.guard.drifts.get(pair, []):
        if drift.addition_id == change.addition_id and _same(drift.found, found):
            known = drift
        else:
            note = f"changed by hand again (run {review.run_id})"
            review.effects.resolved.append((drift.id, note))
    who = (addition.updated_by if addition else None) or "someone"
    if known is None:
        review.effects.new_drifts.append(
            Drift(
                partner_id=review.job.context.partner_id,
                run_id=review.run_id,
                company_id=change.company_id,
                product_id=change.product_id,
                agreement_id=review.job.target.agreement_id,
                addition_id=change.addition_id,
                expected=expected,
                found=found,
                changed_by=addition.updated_by if addition else None,
                changed_at=addition.updated_at if addition else None,
                policy=policy,
                created_at=review.job.ledger.clock(),
            )
        )
    resolve = (lambda note: review.effects.resolved.append((known.id, note))) if known else None
    edited = f"{who} set {shown(found)} by hand {review.when(addition)}"
    if change.action == "unchanged":  # the hand edit already says what the count says
        _set_link(review, pair, {"last_quantity": found}, resolve, "ConnectWise carries the count")
        return change
    if policy == "adopt":
        values = {"last_quantity": found, "adopted_at_count": count}
        _set_link(review, pair, values, resolve, f"adopted by run {review.run_id}")
        advice = f"{edited}; adopted: nothing is written while the count stays {count}"
        return replace(change, action="unchanged", advice=advice)
    if policy == "hold":
        return Verdict(
            "drift", f"{edited} (billing-sync wrote {shown(expected)}): {shown(found)} -> {count}"
        )
    review.effects.overwrites.add(pair)
    return None


def _set_link(review: Review, pair: Pair, values: dict, resolve, note: str) -> None:
    review.effects.links.append((pair, values))
    if resolve is not None:
        resolve(note)
    else:  # the drift found this run is resolved as soon as it is stored
        review.effects.new_drifts[-1].status = "resolved"
        review.effects.new_drifts[-1].resolved_run_id = review.run_id
        review.effects.new_drifts[-1].note = note


def _hold_or_write(review: Review, change: Change, forced: Verdict | None) -> Change:
    pair = (change.company_id, change.product_id)
    prior = review.guard.holds.get(pair)
    if prior is not None and abs(prior.quantity_after - change.quantity_after) < TOLERANCE:
        if prior.status == "open":
            message = f"{prior.rule} rule: {prior.reason}; waiting for a decision (hold {prior.id})"
            return replace(change, action="held", error=message)
        if prior.status == "rejected":
            message = (
                f"held change rejected by {prior.decided_by or 'someone'} (hold {prior.id}); "
                f"ConnectWise keeps {shown(change.quantity_before)} until the count changes"
            )
            return replace(change, action="skipped", error=message)
        if _same(prior.quantity_before, change.quantity_before) or (
            prior.quantity_before is None and change.quantity_before is None
        ):
            review.effects.approved[pair] = prior.id  # approved: it goes out as it was seen
            return change
        review.effects.superseded.append(prior.id)  # ConnectWise moved: judged afresh
    elif prior is not None and prior.status in ("open", "approved"):
        review.effects.superseded.append(prior.id)  # the count moved on before it was written
    rules = review.guard.rules.for_company(change.company_id)
    verdict = forced or judge(
        rules,
        change.quantity_before,
        change.quantity_after,
        first_run_total=review.guard.first_run_total,
    )
    if verdict is None:
        return change
    review.effects.new_holds.append(
        Hold(
            partner_id=review.job.context.partner_id,
            run_id=review.run_id,
            company_id=change.company_id,
            product_id=change.product_id,
            agreement_id=review.job.target.agreement_id,
            addition_id=change.addition_id,
            quantity_before=change.quantity_before,
            quantity_after=change.quantity_after,
            rule=verdict.rule,
            reason=verdict.reason,
            status="open",
            created_at=review.job.ledger.clock(),
        )
    )
    return replace(change, action="held", error=f"{verdict.rule} rule: {verdict.reason}")


def _store(job, effects: Effects) -> None:
    """One transaction for the agreement's new holds and drift, and the links they change."""
    if not (
        effects.new_holds
        or effects.superseded
        or effects.new_drifts
        or effects.resolved
        or effects.links
    ):
        return
    run_id, now = job.ledger.run_id, job.ledger.clock()
    with job.ledger.factory.begin() as session:
        session.add_all(effects.new_holds + effects.new_drifts)
        if effects.superseded:
            session.execute(
                update(Hold)
                .where(Hold.id.in_(effects.superseded), Hold.status.in_(("open", "approved")))
                .values(status="superseded")
            )
        for drift_id, note in effects.resolved:
            _resolve(session, Drift.id == drift_id, run_id, note)
        for (company_id, product_id), values in effects.links:
            session.execute(
                update(AdditionLink)
                .where(AdditionLink.company_id == company_id, AdditionLink.product_id == product_id)
                .values(updated_at=now, **values)
            )


def _resolve(session, which, run_id: int, note: str) -> None:
    session.execute(
        update(Drift)
        .where(which, Drift.status == "open")
        .values(status="resolved", resolved_run_id=run_id, note=note)
    )


def after_writes(job, effects: Effects, changes: list[Change], reports: list[ItemReport]) -> None:
    """Mark approved holds written and the drift a landed write overwrote resolved."""
    if job.dry_run or not (effects.approved or effects.overwrites):
        return
    landed = {
        (c.company_id, c.product_id)
        for c, r in zip(changes, reports, strict=True)
        if c.action in WRITES and r.action in WRITES
    }
    run_id = job.ledger.run_id
    with job.ledger.factory.begin() as session:
        for pair, hold_id in effects.approved.items():
            if pair in landed:
                session.execute(
                    update(Hold).where(Hold.id == hold_id).values(written_run_id=run_id)
                )
        for company_id, product_id in (effects.overwrites | set(effects.approved)) & landed:
            which = (Drift.company_id == company_id) & (Drift.product_id == product_id)
            _resolve(session, which, run_id, f"overwritten by run {run_id}")

"""What a run's guardrails need from the database, read once in gather: rules, holds, drift."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from billing_sync.guard_rules import PartnerRules, rules_for
from billing_sync.models import AdditionLink, Drift, Hold, Run, RunItem

Pair = tuple[int, int]  # (company id, product id)
# A write "wrote something" once confirmed, or possibly (its outcome still unknown).
WROTE = ("done", "settled_done", "intent")


@dataclass(frozen=True)
class PriorHold:
    """The hold that still speaks for a (company, product): open, approved unwritten, rejected."""

    id: int
    status: str
    rule: str
    reason: str
    quantity_before: float | None
    quantity_after: float
    decided_by: str | None


@dataclass(frozen=True)
class OpenDrift:
    """A hand edit found earlier and not resolved yet."""

    id: int
    addition_id: int
    found: float


@dataclass(frozen=True)
class GuardState:
    """The partner's hold rules and the guardrail state of each (company, product)."""

    rules: PartnerRules
    # The users a first real run would push, when more than the partner's first_run_total.
    first_run_total: int | None = None
    holds: dict[Pair, PriorHold] = field(default_factory=dict)
    drifts: dict[Pair, list[OpenDrift]] = field(default_factory=dict)
    adopted: dict[Pair, int] = field(default_factory=dict)  # adopted_at_count of each pair


def _has_written(session: Session, partner_id: int) -> bool:
    """Whether any earlier real run of the partner wrote (or may have written) to ConnectWise."""
    return bool(
        session.scalar(
            select(
                exists().where(
                    RunItem.partner_id == partner_id,
                    RunItem.run_id == Run.id,
                    Run.dry_run.is_(False),
                    RunItem.action.in_(("create", "update")),
                    RunItem.state.in_(WROTE),
                )
            )
        )
    )


def _prior_holds(session: Session, partner_id: int) -> dict[Pair, PriorHold]:
    """Per pair, the newest hold still deciding something (oldest first, so newest wins)."""
    rows = session.scalars(
        select(Hold)
        .where(
            Hold.partner_id == partner_id,
            or_(
                Hold.status.in_(("open", "rejected")),
                (Hold.status == "approved") & Hold.written_run_id.is_(None),
            ),
        )
        .order_by(Hold.id)
    )
    return {
        (h.company_id, h.product_id): PriorHold(
            h.id, h.status, h.rule, h.reason, h.quantity_before, h.quantity_after, h.decided_by
        )
        for h in rows
    }


def _open_drifts(session: Session, partner_id: int) -> dict[Pair, list[OpenDrift]]:
    found: dict[Pair, list[OpenDrift]] = {}
    rows = session.scalars(
        select(Drift).where(Drift.partner_id == partner_id, Drift.status == "open")
    )
    for d in rows:
        found.setdefault((d.company_id, d.product_id), []).append(
            OpenDrift(d.id, d.addition_id, d.found)
        )
    return found


def load_guard(session: Session, partner_id: int, pushed_total: int) -> GuardState:
    """Read the guardrail state; `pushed_total` is the users this run would push in all."""
    rules = rules_for(session, partner_id)
    first = None
    if pushed_total > rules.partner.first_run_total and not _has_written(session, partner_id):
        first = pushed_total
    adopted = session.execute(
        select(
            AdditionLink.company_id, AdditionLink.product_id, AdditionLink.adopted_at_count
        ).where(AdditionLink.partner_id == partner_id, AdditionLink.adopted_at_count.is_not(None))
    ).all()
    return GuardState(
        rules,
        first,
        _prior_holds(session, partner_id),
        _open_drifts(session, partner_id),
        {(c, p): n for c, p, n in adopted},
    )

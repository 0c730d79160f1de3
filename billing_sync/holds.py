"""Held writes as people see them: the open ones, and a person's approve or reject."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_sync.errors import Conflict, NotFoundError
from billing_sync.models import Hold

DECISIONS = ("approved", "rejected")


def open_holds(session: Session, partner_id: int) -> list[Hold]:
    """The partner's holds waiting for a decision, oldest first."""
    return list(
        session.scalars(
            select(Hold)
            .where(Hold.partner_id == partner_id, Hold.status == "open")
            .order_by(Hold.created_at, Hold.id)
        )
    )


def decide(
    session: Session,
    partner_id: int,
    hold_ids: list[int] | None,
    decision: str,
    *,
    by: str,
    now: datetime,
) -> list[Hold]:
    """Approve or reject the given open holds (None: every open one), all or none.

    NotFoundError names ids that are not this partner's; Conflict names ids already decided.
    Approving only records the yes: the next run (started by the caller) writes it through the
    engine, re-reading ConnectWise first.
    """
    if decision not in DECISIONS:
        raise ValueError(f"decision must be one of {', '.join(DECISIONS)}")
    if hold_ids is None:
        holds = open_holds(session, partner_id)
    else:
        wanted = sorted(set(hold_ids))
        found = {
            h.id: h
            for h in session.scalars(
                select(Hold).where(Hold.partner_id == partner_id, Hold.id.in_(wanted))
            )
        }
        missing = [str(i) for i in wanted if i not in found]
        if missing:
            raise NotFoundError(f"no hold {', '.join(missing)} for this partner")
        decided = [f"{h.id} ({h.status})" for h in found.values() if h.status != "open"]
        if decided:
            raise Conflict(f"hold {', '.join(decided)} is not open any more; nothing was changed")
        holds = [found[i] for i in wanted]
    for hold in holds:
        hold.status, hold.decided_by, hold.decided_at = decision, by, now
    return holds

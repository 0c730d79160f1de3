"""How many holds a run created, and how many agreements wait on a held change (alerts, metrics)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing_sync.models import Hold


def new_holds(session: Session, run_id: int) -> int:
    """Holds this run created (a hold reported again by a later run is not new)."""
    return session.scalar(select(func.count(Hold.id)).where(Hold.run_id == run_id)) or 0


def held_agreements(session: Session, partner_id: int | None = None) -> int:
    """Agreements with an open hold: they invoice without the held change (all partners: None)."""
    pairs = select(Hold.partner_id, Hold.agreement_id).where(Hold.status == "open").distinct()
    if partner_id is not None:
        pairs = pairs.where(Hold.partner_id == partner_id)
    return session.scalar(select(func.count()).select_from(pairs.subquery())) or 0


def hold_alert(
    session: Session, partner: str, partner_id: int, run_id: int, trigger: str
) -> tuple[str, str] | None:
    """(subject, message) of the alert a run's holds call for, or None.

    Any run that created holds says how many; a month close with open holds says how many
    agreements will invoice with a held change (without it, unless approved before invoicing).
    """
    created = new_holds(session, run_id)
    waiting = held_agreements(session, partner_id) if trigger == "month_close" else 0
    if not created and not waiting:
        return None
    lines = []
    if created:
        lines.append(
            f"Run {run_id} held {created} change(s) for approval instead of writing them "
            f"(billing-sync holds list {partner})."
        )
    if waiting:
        lines.append(
            f"Month close: {waiting} agreement(s) will invoice with a held change unless it is "
            f"approved first (billing-sync holds approve {partner} ID...)."
        )
    subject = (
        f"month close for {partner}: {waiting} agreement(s) will invoice with a held change"
        if waiting
        else f"sync run {run_id} for {partner} held {created} change(s) for approval"
    )
    return subject, " ".join(lines)

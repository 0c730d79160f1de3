"""What a preview page says beyond its items: the companies it leaves out, what moved since."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing_sync.models import CompanyMapping, Run, Seat


@dataclass(frozen=True)
class SincePreview:
    """Changes made after a preview was computed, and the runs that applied it."""

    seats_changed: int
    mappings_changed: int
    applied_by: list[int]

    @property
    def stale(self) -> bool:
        """True when Apply would no longer find exactly what the preview saw in the database."""
        return bool(self.seats_changed or self.mappings_changed)


def left_out(run: Run) -> list[str]:
    """Companies with seats that the preview's run would not push (unmatched or excluded)."""
    return json.loads(run.left_out) if run.left_out else []


def since_preview(session: Session, partner_id: int, preview: Run) -> SincePreview:
    """Seats and mappings changed after the preview started, and the runs that applied it."""
    at: datetime = preview.started_at
    seats = session.scalar(
        select(func.count(Seat.id)).where(Seat.partner_id == partner_id, Seat.updated_at > at)
    )
    mappings = session.scalar(
        select(func.count(CompanyMapping.id)).where(
            CompanyMapping.partner_id == partner_id, CompanyMapping.updated_at > at
        )
    )
    applied = session.scalars(
        select(Run.id)
        .where(Run.partner_id == partner_id, Run.preview_run_id == preview.id)
        .order_by(Run.id)
    )
    return SincePreview(seats or 0, mappings or 0, list(applied))

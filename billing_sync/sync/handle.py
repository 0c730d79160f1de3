"""A started run as it travels: from the request or scheduler that began it to whoever runs it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from billing_sync.lease import Lease

#: A run in one of these has not ended; every other status is its final word.
OPEN_STATUSES = ("queued", "running")
#: Runs that write only what a person picked (undo a run, zero an orphan), not the month-end
#: counts: a company's sync status and the partner's latest sync look past them.
PICKED_TRIGGERS = ("rollback", "orphan")


@dataclass(frozen=True)
class RunHandle:
    """A started run: its row exists and, unless a dry run, its lease is held."""

    run_id: int
    partner_id: int
    lease: Lease | None  # None for a preview, which writes nothing
    now: datetime
    trigger: str
    dry_run: bool
    preview_run_id: int | None = None
    queued: bool = False  # waits in a job queue; exactly one delivery may start it

    def to_dict(self) -> dict:
        """Plain JSON-able values, to travel in a job (see from_dict)."""
        data = asdict(self)
        data["now"] = self.now.isoformat()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> RunHandle:
        """The handle to_dict() wrote."""
        lease = Lease(**data["lease"]) if data.get("lease") else None
        now = datetime.fromisoformat(data["now"])
        return cls(**{**data, "lease": lease, "now": now})

"""Where each partner's month close stands: done, due, queued, running, failing, stuck, waiting.

The operator's question on the 1st of the month is "whose invoices are still at risk?". This
answers it per partner from the schedule and the month-close runs, in two grouped queries
however many partners there are; `billing-sync month-close` and `/metrics` read it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_sync.models import Partner, Run, Schedule
from billing_sync.periods import Period, latest_closed_period
from billing_sync.sync.handle import OPEN_STATUSES

#: A month close is done once a month-close run since the boundary ended one of these.
CLOSE_DONE = ("succeeded", "partial", "held")  # the close ran; holds wait for a person
STATES = ("done", "due", "queued", "running", "failing", "stuck", "waiting", "disabled")
#: States in which the partner would invoice counts that the close has not written yet.
PENDING = ("due", "queued", "running", "failing", "stuck")


@dataclass(frozen=True)
class CloseStatus:
    """One partner's month close for the latest closed period."""

    partner_id: int
    partner: str
    period: Period
    state: str
    run_id: int | None = None
    run_status: str | None = None
    due_at: datetime | None = None  # when the scheduler takes (or retries) it
    detail: str = ""

    def as_dict(self) -> dict:
        """The JSON shape of `billing-sync month-close --json`."""
        return {
            "partner_id": self.partner_id,
            "partner": self.partner,
            "period": str(self.period),
            "state": self.state,
            "run_id": self.run_id,
            "run_status": self.run_status,
            "due_at": self.due_at.isoformat() if self.due_at else None,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class _Close:
    """What the first query knows about one partner."""

    partner_id: int
    name: str
    timezone: str
    enabled: bool
    due_at: datetime | None  # the schedule's next month close (or its retry)
    last_period: date | None  # the period the scheduler last took a close for

    def target(self, now: datetime) -> Period | None:
        """The month whose close is in question: due now, else the last one taken."""
        if self.due_at is not None and self.due_at <= now:
            return latest_closed_period(now, self.timezone)  # what a claim now would close
        return Period.of(self.last_period) if self.last_period else None


def month_close_statuses(
    session: Session, now: datetime, *, stuck_after: timedelta
) -> list[CloseStatus]:
    """Every partner's latest month close (due now, or the last one taken), by partner name.

    `stuck_after`: how long a close may stay due without a run, or a run queued or running,
    before it counts as stuck (the scheduler or the workers are not getting to it).
    """
    partners = [
        _Close(*row)
        for row in session.execute(
            select(
                Partner.id,
                Partner.name,
                Partner.timezone,
                Partner.integration_enabled,
                Schedule.next_month_close_at,
                Schedule.last_month_close_period,
            )
            .outerjoin(Schedule, Schedule.partner_id == Partner.id)
            .order_by(Partner.name)
        )
    ]
    targets = {p.partner_id: p.target(now) for p in partners}
    boundaries = {
        p.partner_id: targets[p.partner_id].end(p.timezone)
        for p in partners
        if targets[p.partner_id] is not None
    }
    runs: dict[int, list] = {}
    if boundaries:
        for row in session.execute(
            select(Run.partner_id, Run.id, Run.status, Run.started_at, Run.message)
            .where(Run.trigger == "month_close", Run.started_at >= min(boundaries.values()))
            .order_by(Run.id)
        ):
            boundary = boundaries.get(row.partner_id)
            if boundary is not None and row.started_at >= boundary:
                runs.setdefault(row.partner_id, []).append(row)
    return [
        _status(p, targets[p.partner_id], runs.get(p.partner_id, []), now, stuck_after)
        for p in partners
    ]


def _status(
    partner: _Close, period: Period | None, runs: list, now: datetime, stuck_after: timedelta
) -> CloseStatus:
    if period is None:  # no close taken yet, none due: the first one lies ahead
        ahead = latest_closed_period(partner.due_at or now, partner.timezone)
        detail = "" if partner.due_at else "no schedule yet: a running scheduler gives it one"
        base = {"partner_id": partner.partner_id, "partner": partner.name, "period": ahead}
        return CloseStatus(**base, state="waiting", due_at=partner.due_at, detail=detail)
    base = {"partner_id": partner.partner_id, "partner": partner.name, "period": period}
    done = [run for run in runs if run.status in CLOSE_DONE]
    if done:
        run = done[-1]
        return CloseStatus(**base, state="done", run_id=run.id, run_status=run.status)
    if not partner.enabled:
        detail = "the ConnectWise integration is off: the scheduler skips its month close"
        return CloseStatus(**base, state="disabled", detail=detail)
    latest = runs[-1] if runs else None
    due_at = partner.due_at
    if latest is not None and latest.status in OPEN_STATUSES:
        late = latest.started_at < now - stuck_after
        return CloseStatus(
            **base,
            state="stuck" if late else latest.status,
            run_id=latest.id,
            run_status=latest.status,
            detail=f"{latest.status} since {latest.started_at:%Y-%m-%d %H:%M} UTC"
            + (": no worker or scheduler has ended it" if late else ""),
        )
    if latest is not None:  # ended without closing: the scheduler puts it back
        return CloseStatus(
            **base,
            state="failing",
            run_id=latest.id,
            run_status=latest.status,
            due_at=due_at,
            detail=latest.message or latest.status,
        )
    if due_at is None or due_at > now:
        detail = "taken by a scheduler, but no run was recorded"
        return CloseStatus(**base, state="stuck", due_at=due_at, detail=detail)
    late = due_at < now - stuck_after
    detail = "due, but no scheduler has taken it" if late else "due: the next tick takes it"
    return CloseStatus(**base, state="stuck" if late else "due", due_at=due_at, detail=detail)


def state_counts(statuses: list[CloseStatus]) -> Counter:
    """How many partners are in each state (every state present, zero included)."""
    counts = Counter(dict.fromkeys(STATES, 0))
    counts.update(status.state for status in statuses)
    return counts

"""The invoice checklist from the database: open windows, and each partner's checklist in them.

The agreement lines come from checklist_rows.py in grouped queries over every partner at once,
so the /metrics gauge over a thousand partners costs a handful of queries, not a thousand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_sync.checklist_rows import counts_live, lines_by_partner
from billing_sync.invoice_checklist import (
    AgreementLine,
    Summary,
    Window,
    checklist_days,
    close_matters,
    next_opening,
    open_window,
    summarize,
)
from billing_sync.models import Partner, Run
from billing_sync.month_close_status import CLOSE_DONE
from billing_sync.periods import period_containing


@dataclass(frozen=True)
class Checklist:
    """One partner's checklist: its window (None: closed or off) and the agreements in it."""

    days: int
    window: Window | None
    lines: list[AgreementLine] = field(default_factory=list)
    opens_on: date | None = None  # the next window's first day, when none is open
    live: bool = False  # "will write" is the live count (before the boundary, or the live basis)

    @property
    def summary(self) -> Summary:
        return summarize(self.lines)

    def sentence(self) -> str:
        """The headline, e.g. "3 agreements invoice in the next 3 days; ..."."""
        return self.summary.sentence(self.days)


def closes_done(session: Session, boundaries: dict[int, datetime]) -> set[int]:
    """Partners (of `boundaries`: id -> latest boundary) whose month close since then succeeded."""
    if not boundaries:
        return set()
    rows = session.execute(
        select(Run.partner_id, Run.started_at).where(
            Run.trigger == "month_close",
            Run.status.in_(CLOSE_DONE),
            Run.partner_id.in_(boundaries),
            Run.started_at >= min(boundaries.values()),
        )
    )
    return {partner for partner, started in rows if started >= boundaries[partner]}


def _latest_boundary(partner: Partner, now: datetime) -> datetime:
    return period_containing(now, partner.timezone).start(partner.timezone)


def windows(session: Session, partners: list[Partner], now: datetime) -> dict[int, Window]:
    """The open windows of these partners, by partner id (one query for every close)."""
    days = {p.id: checklist_days(p.checklist_days) for p in partners}
    # Only just after a boundary does the close decide; elsewhere the query is not needed.
    pending = [p for p in partners if close_matters(now, p.timezone, days[p.id])]
    done = closes_done(session, {p.id: _latest_boundary(p, now) for p in pending})
    found = {}
    for p in partners:
        window = open_window(now, p.timezone, days[p.id], closed=p.id in done)
        if window is not None:
            found[p.id] = window
    return found


def checklists(session: Session, partners: list[Partner], now: datetime) -> dict[int, Checklist]:
    """The checklist of every partner given whose window is open at `now`, by partner id."""
    found = windows(session, partners, now)
    by_id = {p.id: p for p in partners}
    lines = lines_by_partner(session, {pid: (by_id[pid], w) for pid, w in found.items()}, now)
    return {
        pid: Checklist(w.days, w, lines[pid], live=counts_live(by_id[pid], w, now))
        for pid, w in found.items()
    }


def partner_checklist(session: Session, partner: Partner, now: datetime) -> Checklist:
    """The partner's checklist at `now`: the agreements invoicing in its window, if open."""
    found = checklists(session, [partner], now).get(partner.id)
    if found is not None:
        return found
    days = checklist_days(partner.checklist_days)
    return Checklist(days, None, opens_on=next_opening(now, partner.timezone, days))


def open_checklists(session: Session, now: datetime) -> list[tuple[Partner, Checklist]]:
    """Every partner whose window is open at `now`, with its checklist (metrics, alerts)."""
    partners = list(session.scalars(select(Partner).order_by(Partner.name)))
    found = checklists(session, partners, now)
    return [(p, found[p.id]) for p in partners if p.id in found]


def totals(found: list[tuple[Partner, Checklist]]) -> Summary:
    """The summary summed over partners (the /metrics gauge)."""
    total = Summary()
    for _, checklist in found:
        total = total + checklist.summary
    return total

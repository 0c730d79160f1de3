"""The invoice checklist alert: once a day per partner inside its window, by e-mail and webhook.

Exactly once across scheduler replicas: the ChecklistAlert row (unique partner and local day)
is committed before anything is sent, so the replica whose insert fails sends nothing. It reads
the database only (no ConnectWise), so with workers (BILLING_SYNC_REDIS_URL) the scheduler
process sends it itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from billing_sync.checklist_queries import Checklist, checklists
from billing_sync.invoice_checklist import AgreementLine, local_today
from billing_sync.models import AlertSettings, ChecklistAlert, Partner
from billing_sync.scheduler.alerts import Alert, deliver
from billing_sync.settings import Settings

log = logging.getLogger(__name__)
#: How often the scheduler looks (a day's alert goes out within this of the window opening).
EVERY_SECONDS = 300
LISTED = 25  # agreements named in one alert; the dashboard lists them all


@dataclass(frozen=True)
class DueAlert:
    """A partner whose checklist calls for today's alert, and where it goes."""

    partner: str
    partner_id: int
    day: date
    email_to: str | None
    webhook_url: str | None
    checklist: Checklist


def _with_channels(session: Session) -> list[tuple[Partner, AlertSettings]]:
    rows = session.execute(
        select(Partner, AlertSettings)
        .join(AlertSettings, AlertSettings.partner_id == Partner.id)
        .where(or_(AlertSettings.email_to.is_not(None), AlertSettings.webhook_url.is_not(None)))
        .order_by(Partner.name)
    )
    return [(partner, alerts) for partner, alerts in rows]


def due_alerts(session: Session, now: datetime) -> list[DueAlert]:
    """Partners inside their window with a channel, no alert today and agreements invoicing."""
    candidates = _with_channels(session)
    today = {p.id: local_today(now, p.timezone) for p, _ in candidates}
    sent = set()
    if today:
        rows = session.execute(
            select(ChecklistAlert.partner_id, ChecklistAlert.day).where(
                ChecklistAlert.partner_id.in_(today),
                ChecklistAlert.day >= min(today.values()),
            )
        )
        sent = {(partner_id, day) for partner_id, day in rows}
    waiting = [(p, a) for p, a in candidates if (p.id, today[p.id]) not in sent]
    found_lists = checklists(session, [p for p, _ in waiting], now)
    found = []
    for partner, alerts in waiting:
        checklist = found_lists.get(partner.id)
        if checklist is not None and checklist.lines:
            found.append(
                DueAlert(
                    partner.name,
                    partner.id,
                    today[partner.id],
                    alerts.email_to,
                    alerts.webhook_url,
                    checklist,
                )
            )
    return found


def _line_text(line: AgreementLine) -> str:
    products = ", ".join(
        f"{p.code} {'-' if p.written is None else f'{p.written:g}'} -> {p.will_write}"
        + (f" ({p.holds} held)" if p.holds else "")
        for p in line.products
    )
    health = f"; {line.level}" + (f": {line.reason}" if line.reason else "") if line.level else ""
    return (
        f"- {line.company} ({line.external_id}), agreement {line.agreement or line.agreement_id}, "
        f"invoices {line.next_invoice_date.isoformat()}: {products}{health}"
    )


def message(due: DueAlert) -> str:
    """The alert's text: the summary sentence, then the agreements (written -> will write)."""
    lines = due.checklist.lines
    text = [f"{due.checklist.sentence()}.", "", "Per product: written -> billing-sync will write."]
    text += [_line_text(line) for line in lines[:LISTED]]
    if len(lines) > LISTED:
        text.append(f"... and {len(lines) - LISTED} more: see the dashboard.")
    return "\n".join(text)


def _claim(factory: sessionmaker[Session], due: DueAlert, now: datetime) -> bool:
    """Commit today's row first; False when another scheduler has (it sends, we do not)."""
    try:
        with factory.begin() as session:
            session.add(
                ChecklistAlert(
                    partner_id=due.partner_id,
                    day=due.day,
                    summary=due.checklist.sentence(),
                    sent_at=now,
                )
            )
    except IntegrityError:
        return False
    return True


def send_checklist_alerts(factory: sessionmaker[Session], settings: Settings, now: datetime) -> int:
    """Send today's checklist alert to every partner that needs one; returns how many."""
    with factory() as session:
        due = due_alerts(session, now)
    sent = 0
    for item in due:
        if not _claim(factory, item, now):
            continue
        until = item.checklist.window.until if item.checklist.window else item.day
        subject = (
            f"invoice checklist for {item.partner}: {item.checklist.summary.invoicing} "
            f"agreement(s) invoice by {until.isoformat()}"
        )
        alert = Alert(item.partner, "invoice_checklist", subject, message(item), now)
        deliver(settings, item.email_to, item.webhook_url, alert)
        sent += 1
    return sent


def safe_send(factory: sessionmaker[Session], settings: Settings, clock) -> None:
    """The scheduler's job: never raises (an alert must not stop the loop)."""
    try:
        send_checklist_alerts(factory, settings, clock())
    except Exception:  # noqa: BLE001 - e.g. the database is down; the next pass tries again
        log.exception("invoice checklist alerts not sent")

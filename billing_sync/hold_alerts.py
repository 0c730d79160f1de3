"""The alert for holds made by a run that no scheduler follows up (Sync now, the API, approvals)."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from billing_sync.hold_counts import hold_alert
from billing_sync.models import Partner, Run
from billing_sync.scheduler.alerts import Alert, deliver
from billing_sync.scheduler.service import get_alerts
from billing_sync.settings import Settings

log = logging.getLogger(__name__)
#: Runs whose outcome the scheduler (or a worker on its behalf) alerts on already.
FOLLOWED_UP = ("schedule", "month_close")


def alert_new_holds(
    factory: sessionmaker[Session], settings: Settings, run_id: int, *, now: datetime
) -> None:
    """Tell the partner's channels when a run a person or automation started held changes."""
    try:
        with factory() as session:
            run = session.get(Run, run_id)
            if run is None or run.dry_run or run.trigger in FOLLOWED_UP or not run.held:
                return
            partner = session.get(Partner, run.partner_id)
            found = hold_alert(session, partner.name, partner.id, run_id, run.trigger)
            targets = get_alerts(session, partner.id)
        if found is None or targets is None or not (targets.email_to or targets.webhook_url):
            return
        subject, message = found
        alert = Alert(partner.name, "holds", subject, message, now, run_id)
        deliver(settings, targets.email_to, targets.webhook_url, alert)
    except Exception:  # noqa: BLE001 - an alert never turns a finished run into a failure
        log.exception("holds of run %s not alerted", run_id)

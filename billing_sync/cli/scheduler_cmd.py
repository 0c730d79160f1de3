"""`billing-sync scheduler`, `schedule set|show|checklist` and `alerts set`."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from sqlalchemy.orm import Session

from billing_sync import metrics
from billing_sync.cli.common import CliError, echo, now, session_factory, settings
from billing_sync.errors import BillingSyncError
from billing_sync.invoice_checklist import checklist_days as checklist_days_in_force
from billing_sync.logs import setup_logging
from billing_sync.partners import BASES, get_partner, set_checklist_days, update_partner_settings
from billing_sync.scheduler.due import FREQUENCIES, WEEKDAYS
from billing_sync.scheduler.loop import run_scheduler
from billing_sync.scheduler.service import get_alerts, next_runs, set_alerts, set_schedule
from billing_sync.settings import Settings


@contextmanager
def _session(config: Settings) -> Iterator[Session]:
    """One transaction for the command; domain errors become a one-line message and exit 1."""
    factory = session_factory(config)
    try:
        with factory.begin() as session:
            yield session
    except BillingSyncError as exc:
        raise CliError(str(exc)) from exc
    finally:
        factory.kw["bind"].dispose()


def run_until_signalled(config: Settings, **kwargs: Any) -> None:
    """Run the scheduler loop until SIGTERM or SIGINT; the run in flight stops after its item."""
    stop = threading.Event()

    def _stop(signum, _frame) -> None:
        logging.getLogger("billing_sync.scheduler").info(
            "%s received, stopping after the item in flight", signal.Signals(signum).name
        )
        stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        run_scheduler(config, stop=stop, **kwargs)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@click.command("scheduler")
def scheduler() -> None:
    """Run due syncs, month closes and credentials checks until stopped (SIGTERM-safe).

    With BILLING_SYNC_REDIS_URL set it only decides what is due and enqueues it for workers.
    """
    config = settings()
    metrics.configure(config)
    # An unattended process should say what it ran, even without --verbose.
    setup_logging(config, info_from=("billing_sync.scheduler",))
    run_until_signalled(config)


CHECKLIST_HELP = "Show the invoice checklist from N days before month end (0-31; 0: off)."


@click.group("schedule")
def schedule() -> None:
    """A partner's sync schedule."""


@schedule.command("set")
@click.argument("partner")
@click.argument("frequency", type=click.Choice(FREQUENCIES))
@click.option(
    "--weekday", type=click.Choice(WEEKDAYS, case_sensitive=False), help="Day of a weekly run."
)
@click.option(
    "--at", "at_time", required=True, metavar="HH:MM", help="Local time in the partner's zone."
)
@click.option("--basis", type=click.Choice(BASES), help="Count basis for the partner's runs.")
@click.option("--checklist-days", metavar="N", help=CHECKLIST_HELP)
def schedule_set(
    partner: str,
    frequency: str,
    weekday: str | None,
    at_time: str,
    basis: str | None,
    checklist_days: str | None,
) -> None:
    """Run PARTNER's sync daily or weekly at HH:MM in its time zone."""
    config = settings()
    with _session(config) as session:
        row = get_partner(session, partner)
        if basis is not None:
            update_partner_settings(row, count_basis=basis)
        if checklist_days is not None:
            set_checklist_days(row, checklist_days)
        set_schedule(
            session,
            row,
            frequency,
            weekday=weekday,
            at_time=at_time,
            now=now(),
            month_close_at=config.month_close_at,
        )
        echo(f"{partner}: {next_runs(session, row.id).describe()}")


@schedule.command("show")
@click.argument("partner")
def schedule_show(partner: str) -> None:
    """Show PARTNER's schedule and its next run times."""
    with _session(settings()) as session:
        runs = next_runs(session, get_partner(session, partner).id)
        echo(f"{partner}: {runs.describe() if runs else 'no schedule set'}")


@schedule.command("checklist")
@click.argument("partner")
@click.argument("days", metavar="[DAYS]", required=False)
def schedule_checklist(partner: str, days: str | None) -> None:
    """Show PARTNER's invoice checklist from DAYS days before month end (0: off); no DAYS: show."""
    with _session(settings()) as session:
        row = get_partner(session, partner)
        shown = (
            set_checklist_days(row, days)
            if days is not None
            else checklist_days_in_force(row.checklist_days)
        )
        echo(f"{partner}: {_checklist_words(shown)}")


def _checklist_words(days: int) -> str:
    if not days:
        return "invoice checklist off"
    return f"invoice checklist from {days} day(s) before month end"


@click.group("alerts")
def alerts() -> None:
    """Where a partner's failure alerts go."""


@alerts.command("set")
@click.argument("partner")
@click.option("--email", "email_to", help="Recipients, comma separated; '' turns e-mail off.")
@click.option("--webhook", "webhook_url", help="URL for a JSON POST; '' turns it off.")
def alerts_set(partner: str, email_to: str | None, webhook_url: str | None) -> None:
    """Send PARTNER's failed-run and credentials alerts by e-mail and/or webhook."""
    config = settings()
    with _session(config) as session:
        row = get_partner(session, partner)
        current = get_alerts(session, row.id)
        if current is not None:  # an option left out keeps its channel as it is
            email_to = current.email_to if email_to is None else email_to
            webhook_url = current.webhook_url if webhook_url is None else webhook_url
        saved = set_alerts(
            session,
            row,
            email_to,
            webhook_url,
            now=now(),
            allow_private_hosts=config.allow_private_hosts,
        )
        echo(
            f"{partner}: alerts to e-mail {saved.email_to or 'off'}, "
            f"webhook {saved.webhook_url or 'off'}"
        )

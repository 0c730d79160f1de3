"""`billing-sync month-close`: where every partner's month close stands, for the operator."""

from __future__ import annotations

import json

import click

from billing_sync.cli.common import echo, now, session_factory, settings
from billing_sync.month_close_status import PENDING, STATES, month_close_statuses


@click.command("month-close")
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice(STATES),
    help="Only partners in this state (repeatable).",
)
@click.option("--pending", is_flag=True, help=f"Only partners at risk: {', '.join(PENDING)}.")
@click.option("--json", "as_json", is_flag=True, help="One JSON array on stdout.")
def month_close(states: tuple[str, ...], pending: bool, as_json: bool) -> None:
    """Each partner's close of its latest closed month: done, due, queued, running, failing,
    stuck (due, queued or running past BILLING_SYNC_JOB_TIMEOUT), waiting or disabled.

    Exit 0; 3 when any close is failing or stuck, so a cron check can alert on it.
    """
    config = settings()
    with session_factory(config)() as session:
        statuses = month_close_statuses(session, now(), stuck_after=config.month_close_stuck_after)
    wanted = set(states) | (set(PENDING) if pending else set())
    shown = [s for s in statuses if not wanted or s.state in wanted]
    if as_json:
        click.echo(json.dumps([status.as_dict() for status in shown], indent=2))
    else:
        echo(f"{'partner':<24}  {'period':<7}  {'state':<8}  {'run':>6}  {'due (UTC)':<16}  detail")
        for s in shown:
            due = f"{s.due_at:%Y-%m-%d %H:%M}" if s.due_at else ""
            run = str(s.run_id) if s.run_id else ""
            echo(f"{s.partner:<24}  {s.period!s:<7}  {s.state:<8}  {run:>6}  {due:<16}  {s.detail}")
    if any(s.state in ("failing", "stuck") for s in statuses):
        raise SystemExit(3)

"""The `rollback` command: undo what one run wrote, as a run of its own, or preview it."""

from __future__ import annotations

import json
import sys

import click

from billing_sync import partners
from billing_sync.cli.common import RecordId, echo, now, session_factory, settings
from billing_sync.sync.report import format_report
from billing_sync.sync.rollback import NEXT_RUN, rollback_run


@click.command()
@click.argument("partner_name", metavar="PARTNER")
@click.argument("run_id", metavar="RUN_ID", type=RecordId())
@click.option(
    "--dry-run", is_flag=True, help="Preview: show what would be put back, write nothing."
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object (the sync --json shape)."
)
def rollback(partner_name: str, run_id: int, dry_run: bool, as_json: bool) -> None:
    """Put every addition RUN_ID changed back to its quantity before that run.

    An addition ConnectWise no longer shows at the run's value (a later run or a person changed
    it) is a conflict and left alone; additions the run created are set to 0, never deleted.
    """
    config = settings()
    config.require_secret()
    factory = session_factory(config)
    with factory() as session:
        partner_id = partners.get_partner(session, partner_name).id
    report = rollback_run(factory, config, partner_id, run_id, now=now(), dry_run=dry_run)
    if as_json:
        echo(json.dumps(report.to_json()))
    else:
        echo(format_report(report, dry_run=dry_run), lines=True)
        if report.message is None or NEXT_RUN not in report.message:
            echo(NEXT_RUN)
    if report.status != "succeeded":
        if not as_json:
            echo(f"error: rollback run {report.run_id} {report.status}", err=True)
        sys.exit(1)

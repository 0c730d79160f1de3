"""The `sync` command: one run now, as a table or as JSON."""

from __future__ import annotations

import json
import sys

import click

from billing_sync import partners
from billing_sync.cli.common import now, session_factory, settings
from billing_sync.sync import run_sync
from billing_sync.sync.report import format_report

OK_STATUSES = {"succeeded"}


def _progress_printer():
    """Progress on a terminal only, so pipes and --json stay clean."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        click.echo(f"\r  {done}/{total} items", err=True, nl=done >= total)

    return show


@click.command()
@click.argument("partner_name", metavar="PARTNER")
@click.option("--dry-run", is_flag=True, help="Plan only: show what would change, write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def sync(partner_name: str, dry_run: bool, as_json: bool) -> None:
    """Run one sync now (exit 0 when every item succeeded, 1 otherwise)."""
    config = settings()
    config.require_secret()
    factory = session_factory(config)
    with factory() as session:
        partner_id = partners.get_partner(session, partner_name).id
    report = run_sync(
        factory,
        config,
        partner_id,
        now=now(),
        trigger="cli",
        dry_run=dry_run,
        progress=None if as_json else _progress_printer(),
    )
    if as_json:
        click.echo(json.dumps(report.to_json()))
    else:
        click.echo(format_report(report, dry_run=dry_run))
    if report.status not in OK_STATUSES:
        if not as_json:
            click.echo(f"error: run {report.run_id} {report.status}", err=True)
        sys.exit(1)

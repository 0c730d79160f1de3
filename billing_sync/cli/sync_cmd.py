"""The `sync` command: one run now, as a table or as JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, nullcontext

import click
from sqlalchemy.exc import OperationalError

from billing_sync import partners
from billing_sync.cli.common import echo, now, session_factory, settings
from billing_sync.db import database_problem
from billing_sync.errors import RunInProgress
from billing_sync.sync import run_sync
from billing_sync.sync.report import RunReport, format_report
from billing_sync.sync.runner import Progress

OK_STATUSES = {"succeeded"}


@contextmanager
def progress_bar() -> Iterator[Progress | None]:
    """click's progress bar on stderr when it is a terminal (so pipes and --json stay clean).

    Yields what the engine calls as progress(done, total); the bar is drawn on the first call,
    when the total is known, and closed (with its newline) when the block ends.
    """
    if not sys.stderr.isatty():
        yield None
        return
    with ExitStack() as stack:
        bar = None

        def show(done: int, total: int) -> None:
            nonlocal bar
            if bar is None:
                bar = stack.enter_context(
                    click.progressbar(length=total, label="syncing", show_pos=True, file=sys.stderr)
                )
            bar.update(max(0, done - bar.pos))

        yield show


def _no_run(as_json: bool, exc: Exception, status: str, message: str) -> None:
    """No run report to print: re-raise for the one-line error, or keep the JSON contract."""
    if not as_json:
        raise exc
    # One object even when no run could start or finish its record.
    click.echo(json.dumps(RunReport(None, status, message=message).to_json()))
    echo(f"error: {message}", err=True)
    sys.exit(1)


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
    try:
        with nullcontext() if as_json else progress_bar() as progress:
            report = run_sync(
                factory,
                config,
                partner_id,
                now=now(),
                trigger="cli",
                dry_run=dry_run,
                progress=progress,
            )
    except RunInProgress as exc:
        _no_run(as_json, exc, "refused", str(exc))
    except OperationalError as exc:  # e.g. SQLite locked by a process frozen inside a write
        _no_run(as_json, exc, "failed", database_problem(exc))
    if as_json:
        echo(json.dumps(report.to_json()))
    else:
        echo(format_report(report, dry_run=dry_run), lines=True)
    if report.status not in OK_STATUSES:
        if not as_json:
            echo(f"error: run {report.run_id} {report.status}", err=True)
        sys.exit(1)

"""Run commands: `sync`, the ConnectWise `simulator`, and the seeded `demo`."""

from __future__ import annotations

import json
import sys

import click

from billing_sync import partners
from billing_sync.cli.common import CliError, now, session_factory, settings
from billing_sync.sync import RunReport, run_sync

OK_STATUSES = {"succeeded"}


def format_report(report: RunReport, *, dry_run: bool) -> str:
    """A readable table of what changed (or would change), then totals and warnings."""
    header = f"{'company':<28} {'product':<16} {'agreement':>9} {'before':>7} {'after':>6}  action"
    lines = [header, "-" * len(header)]
    for item in report.items:
        before = "-" if item.quantity_before is None else f"{item.quantity_before:g}"
        after = "-" if item.quantity_after is None else f"{item.quantity_after:g}"
        action = (
            ("would " + item.action)
            if dry_run and item.action in ("create", "update")
            else item.action
        )
        line = (
            f"{item.company_name[:28]:<28} {item.product[:16]:<16} "
            f"{item.agreement_id or '-':>9} {before:>7} {after:>6}  {action}"
        )
        if item.error:
            line += f": {item.error}"
        lines.append(line)
    totals = {}
    for item in report.items:
        totals[item.action] = totals.get(item.action, 0) + 1
    summary = ", ".join(f"{n} {a}" for a, n in sorted(totals.items())) or "nothing to do"
    lines.append(f"run {report.run_id} {report.status}: {summary}")
    lines.extend(f"warning: {w}" for w in report.warnings)
    if report.message:
        lines.append(report.message)
    return "\n".join(lines)


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


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8123, show_default=True, type=int)
@click.option("--seed", type=click.Path(exists=True, dir_okay=False), help="seed JSON file")
@click.option(
    "--latency", default=0.0, show_default=True, type=float, help="seconds added to every API call"
)
def simulator(host: str, port: int, seed: str | None, latency: float) -> None:
    """Serve the ConnectWise Manage simulator until stopped (for tests, demos, benchmarks)."""
    from billing_sync.simulator import run_simulator

    run_simulator(host, port, seed, latency)


@click.command()
@click.option("--port", default=8000, show_default=True, type=int, help="web app port")
@click.option("--no-serve", is_flag=True, help="Stop after the sync instead of serving the app.")
def demo(port: int, no_serve: bool) -> None:
    """Seed a simulator and a SQLite database, preview and sync, then serve the web app."""
    from billing_sync.demo import run_demo

    try:
        run_demo(port=port, serve=not no_serve)
    except OSError as exc:
        raise CliError(f"demo could not start: {exc}") from exc

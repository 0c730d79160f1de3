"""`billing-sync check`: pre-flight health of every mapped company, read from ConnectWise now."""

from __future__ import annotations

import json
import sys

import click

from billing_sync import partners
from billing_sync.cli.common import echo, now, session_factory, settings
from billing_sync.preflight import CheckReport, check_now


def _lines(report: CheckReport) -> list[str]:
    header = f"{'company':<16} {'name':<28} {'level':<6} reason"
    lines = [header, "-" * len(header)]
    for target, verdict in report.rows:
        first = verdict.first.message if verdict.first else "ready to bill"
        lines.append(
            f"{target.external_id[:16]:<16} {target.name[:28]:<28} {verdict.level:<6} {first}"
        )
    counts = report.counts()
    lines.append(
        f"{counts['green']} green, {counts['amber']} amber, {counts['red']} red "
        f"({len(report.rows)} mapped compan{'y' if len(report.rows) == 1 else 'ies'})"
    )
    return lines


@click.command()
@click.argument("partner_name", metavar="PARTNER")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of lines.")
def check(partner_name: str, as_json: bool) -> None:
    """Check every mapped company's agreement, products and permissions (exit 1 when any red)."""
    config = settings()
    config.require_secret()
    factory = session_factory(config)
    with factory() as session:
        partner_id = partners.get_partner(session, partner_name).id
    report = check_now(factory, config, partner_id, now=now())
    if as_json:
        click.echo(json.dumps(report.to_json()))
    else:
        echo("\n".join(_lines(report)), lines=True)
    for problem in report.problems:
        echo(f"warning: {problem}", err=True)
    if report.any_red:
        sys.exit(1)

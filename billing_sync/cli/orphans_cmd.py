"""`billing-sync orphans`: list additions nobody keeps, adopt one, or set some to 0 (recorded)."""

from __future__ import annotations

import json
import sys
from zoneinfo import ZoneInfo

import click

from billing_sync import partners
from billing_sync.cli.common import RecordId, echo, now, session_factory, settings
from billing_sync.models import Partner
from billing_sync.orphans import find_orphans
from billing_sync.partner_connection import client_for
from billing_sync.sync.orphan_writes import OrphanAction, adopt_addition, zero_additions
from billing_sync.sync.report import RunReport
from billing_sync.sync.runner import system_clock

LABELS = {"unowned": "not ours", "left_behind": "left behind", "mapping_deleted": "mapping gone"}


class _ListByDefault(click.Group):
    """`orphans PARTNER` means `orphans list PARTNER` (a partner named `list`: the long form)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["list", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_ListByDefault)
def orphans() -> None:
    """Additions billing-sync does not keep: not ours, left behind by a remap, mapping gone."""


def _action(partner_name: str) -> OrphanAction:
    config = settings()
    config.require_secret()
    factory = session_factory(config)
    with factory() as session:
        partner_id = partners.get_partner(session, partner_name).id
    return OrphanAction(factory, config, partner_id, now(), system_clock)


def _zone(action: OrphanAction) -> ZoneInfo:
    with action.factory() as session:
        return ZoneInfo(session.get(Partner, action.partner_id).timezone)


@orphans.command("list")
@click.argument("partner_name", metavar="PARTNER")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def orphans_list(partner_name: str, as_json: bool) -> None:
    """Read ConnectWise now and list the partner's orphans (exit 1 when an agreement was unread)."""
    action = _action(partner_name)
    with action.factory() as session, client_for(session, action.settings, action.partner_id) as cw:
        report, _facts = find_orphans(session, cw, action.partner_id, now=action.now)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "checked_at": report.checked_at.isoformat(),
                    "orphans": [o.to_json() for o in report.orphans],
                    "problems": report.problems,
                }
            )
        )
    else:
        header = (
            f"{'kind':<12} {'company':<24} {'agreement':>9} {'addition':>9} "
            f"{'catalog item':<16} {'qty':>5}  why"
        )
        lines = [header, "-" * len(header)]
        for o in report.orphans:
            company = (o.company_name or "-")[:24]
            lines.append(
                f"{LABELS[o.kind]:<12} {company:<24} {o.agreement_id:>9} {o.addition_id:>9} "
                f"{(o.catalog_item or str(o.cw_product_id))[:16]:<16} {o.quantity:>5g}  {o.why}"
            )
        checked = report.checked_at.astimezone(_zone(action))
        lines.append(f"{len(report.orphans)} orphan(s), checked at {checked:%Y-%m-%d %H:%M %Z}")
        echo("\n".join(lines), lines=True)
    for problem in report.problems:
        echo(f"error: {problem}", err=True)
    if report.problems:
        sys.exit(1)


def _print(report: RunReport, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report.to_json()))
        return
    header = f"{'company':<24} {'agreement':>9} {'addition':>9} {'before':>7} {'after':>6}  action"
    lines = [header, "-" * len(header)]
    for item in report.items:
        before = "-" if item.quantity_before is None else f"{item.quantity_before:g}"
        after = "-" if item.quantity_after is None else f"{item.quantity_after:g}"
        line = (
            f"{item.company_name[:24] or '-':<24} {item.agreement_id or '-':>9} "
            f"{item.addition_id or '-':>9} {before:>7} {after:>6}  {item.action}"
        )
        note = item.error or item.advice  # why it failed, or what was done
        lines.append(line + (f": {note}" if note else ""))
    run = "dry run" if report.run_id is None else f"run {report.run_id}"
    lines.append(f"{run} {report.status}" + (f": {report.message}" if report.message else ""))
    echo("\n".join(lines), lines=True)


@orphans.command("zero")
@click.argument("partner_name", metavar="PARTNER")
@click.argument("addition_ids", metavar="ADDITION_ID...", nargs=-1, required=True, type=RecordId())
@click.option("--dry-run", is_flag=True, help="Check and show what would be set; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def orphans_zero(partner_name: str, addition_ids: tuple[int, ...], dry_run: bool, as_json: bool):
    """Set orphans to quantity 0 (never deleted) in a run of its own; all ids or none."""
    report = zero_additions(_action(partner_name), list(addition_ids), dry_run=dry_run)
    _print(report, as_json)
    if report.status not in ("succeeded", "planned"):
        echo(f"error: run {report.run_id} {report.status}", err=True)
        sys.exit(1)


@orphans.command("adopt")
@click.argument("partner_name", metavar="PARTNER")
@click.argument("addition_id", metavar="ADDITION_ID", type=RecordId())
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def orphans_adopt(partner_name: str, addition_id: int, as_json: bool) -> None:
    """Let billing-sync keep an addition it does not own (a mapped agreement and product)."""
    report = adopt_addition(_action(partner_name), addition_id)
    _print(report, as_json)
    if report.status != "succeeded":
        echo(f"error: run {report.run_id} {report.status}", err=True)
        sys.exit(1)

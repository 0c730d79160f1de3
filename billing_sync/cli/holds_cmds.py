"""`billing-sync holds list|approve|reject`: held writes and a person's decision on them."""

from __future__ import annotations

import getpass
import json
import sys

import click
from sqlalchemy import select

from billing_sync import holds as held
from billing_sync import partners
from billing_sync.cli.common import CliError, RecordId, echo, now, session_factory, settings
from billing_sync.cli.guard_cmds import command_session, local
from billing_sync.errors import RunInProgress
from billing_sync.hold_judging import shown
from billing_sync.models import Company, Hold, Product
from billing_sync.sync import run_sync
from billing_sync.sync.report import format_report


def _who() -> str:
    """Who decided, as the ledger names them: the operating-system user of the CLI."""
    try:
        return f"{getpass.getuser()} (cli)"
    except (KeyError, OSError):  # no user name in a bare container
        return "cli"


@click.group()
def holds() -> None:
    """Planned writes held for a person's approval."""


@holds.command("list")
@click.argument("partner_name", metavar="PARTNER")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def holds_list(partner_name: str, as_json: bool) -> None:
    """The partner's open holds, oldest first."""
    with command_session() as session:
        partner = partners.get_partner(session, partner_name)
        ids = [h.id for h in held.open_holds(session, partner.id)]
        rows = session.execute(
            select(Hold, Company.external_id, Company.name, Product.code)
            .join(Company, Company.id == Hold.company_id)
            .join(Product, Product.id == Hold.product_id)
            .where(Hold.id.in_(ids))
            .order_by(Hold.created_at, Hold.id)
        ).all()
        found = [_hold_json(h, ext, name, code, partner.timezone) for h, ext, name, code in rows]
    if as_json:
        echo(json.dumps(found))
        return
    if not found:
        echo("no open holds")
    for h in found:
        echo(
            f"hold {h['id']}: {h['company_name']} ({h['company']}) {h['product']} on agreement "
            f"{h['agreement_id']}: {shown(h['quantity_before'])} -> {shown(h['quantity_after'])} "
            f"held ({h['rule']}) by run {h['run_id']} at {h['created_at_local']}: {h['reason']}"
        )


def _hold_json(h: Hold, external_id: str, name: str, code: str, timezone: str) -> dict:
    return {
        "id": h.id,
        "company": external_id,
        "company_name": name,
        "product": code,
        "agreement_id": h.agreement_id,
        "addition_id": h.addition_id,
        "quantity_before": h.quantity_before,
        "quantity_after": h.quantity_after,
        "rule": h.rule,
        "reason": h.reason,
        "run_id": h.run_id,
        "created_at": h.created_at.isoformat(),
        "created_at_local": local(h.created_at, timezone),
    }


def _decide(partner_name: str, hold_ids: tuple[int, ...], every: bool, decision: str) -> int:
    """Record the decision (all or none); returns the partner id."""
    if every == bool(hold_ids):
        raise CliError("give hold ids or --all (not both)" if every else "give hold ids or --all")
    with command_session() as session:
        partner = partners.get_partner(session, partner_name)
        decided = held.decide(
            session,
            partner.id,
            None if every else list(hold_ids),
            decision,
            by=_who(),
            now=now(),
        )
        if not decided:
            raise CliError(f"{partner_name} has no open holds")
        echo(f"{decision} hold {', '.join(str(h.id) for h in decided)}", err=True)
        return partner.id


@holds.command("approve")
@click.argument("partner_name", metavar="PARTNER")
@click.argument("hold_ids", nargs=-1, type=RecordId())
@click.option("--all", "every", is_flag=True, help="Approve every open hold.")
@click.option("--json", "as_json", is_flag=True, help="Print the run as one JSON object.")
def holds_approve(partner_name: str, hold_ids: tuple[int, ...], every: bool, as_json: bool) -> None:
    """Approve holds, then run a sync now: it re-reads ConnectWise and writes what still fits."""
    partner_id = _decide(partner_name, hold_ids, every, "approved")
    config = settings()
    config.require_secret()
    factory = session_factory(config)
    try:
        report = run_sync(factory, config, partner_id, now=now(), trigger="approval")
    except RunInProgress as exc:
        raise CliError(f"approved, but not written yet: {exc}; the next run writes it") from exc
    finally:
        factory.kw["bind"].dispose()
    if as_json:
        echo(json.dumps(report.to_json()))
    else:
        echo(format_report(report, dry_run=False), lines=True)
    if report.status != "succeeded":
        if not as_json:
            echo(f"error: run {report.run_id} {report.status}", err=True)
        sys.exit(1)


@holds.command("reject")
@click.argument("partner_name", metavar="PARTNER")
@click.argument("hold_ids", nargs=-1, type=RecordId())
@click.option("--all", "every", is_flag=True, help="Reject every open hold.")
def holds_reject(partner_name: str, hold_ids: tuple[int, ...], every: bool) -> None:
    """Reject holds: ConnectWise keeps its value until the count changes again."""
    _decide(partner_name, hold_ids, every, "rejected")

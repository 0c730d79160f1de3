"""`billing-sync agreements`: replacement suggestions for ended agreements, and new agreements."""

from __future__ import annotations

import json
import sys

import click
from sqlalchemy import select

from billing_sync import partners
from billing_sync.agreement_creation import CreationRequest, create_for_company
from billing_sync.agreement_suggestions import accept, dismiss, replace_to, suggest_now
from billing_sync.agreement_terms import parse_start
from billing_sync.cli.common import RecordId, echo, now, session_factory, settings
from billing_sync.models import Company
from billing_sync.partner_connection import client_for

WHO = "cli"  # decided_by / requested_by for the command line


@click.group()
def agreements() -> None:
    """Agreements: suggest replacements for ended ones, re-point, create for a new customer."""


def _open(partner_name: str):
    config = settings()
    config.require_secret()
    factory = session_factory(config)
    with factory() as session:
        partner_id = partners.get_partner(session, partner_name).id
    return config, factory, partner_id


@agreements.command("suggest")
@click.argument("partner_name", metavar="PARTNER")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of lines.")
def agreements_suggest(partner_name: str, as_json: bool) -> None:
    """Read ConnectWise now: for each mapped agreement that ended, the one to re-point to."""
    config, factory, partner_id = _open(partner_name)
    with factory() as session, client_for(session, config, partner_id) as cw:
        findings = suggest_now(session, partner_id, cw, now())
        ids = {f.company_id for f in findings}
        names = {c.id: c for c in session.scalars(select(Company).where(Company.id.in_(ids)))}
        session.commit()
    rows = [
        {
            "company": names[f.company_id].external_id,
            "company_name": names[f.company_id].name,
            "old_agreement_id": f.old.id,
            "old_reason": f.old_reason,
            "new_agreement_id": f.new.id if f.new else None,
            "new_agreement_name": f.new.name if f.new else None,
            "reason": f.reason,
        }
        for f in findings
    ]
    if as_json:
        click.echo(json.dumps({"ended": rows}))
        return
    for row in rows:
        target = (
            f"re-point to {row['new_agreement_name']} (#{row['new_agreement_id']})"
            if row["new_agreement_id"]
            else row["reason"]
        )
        echo(
            f"{row['company']} ({row['company_name']}): agreement {row['old_agreement_id']} "
            f"is {row['old_reason']}: {target}"
        )
    echo(f"{len(rows)} mapped agreement(s) ended")


@agreements.command("replace")
@click.argument("partner_name", metavar="PARTNER")
@click.argument("external_id", metavar="EXTERNAL_ID")
@click.option("--to", "to", required=True, type=RecordId(), help="The agreement to bill on.")
def agreements_replace(partner_name: str, external_id: str, to: int) -> None:
    """Re-point a mapped company to another agreement of its ConnectWise company (recorded)."""
    config, factory, partner_id = _open(partner_name)
    with factory() as session, client_for(session, config, partner_id) as cw:
        row = replace_to(session, cw, partner_id, external_id, to, user=WHO, now=now())
        session.commit()
    echo(f"{external_id} now bills on agreement {to} ({row.new_agreement_name})")


@agreements.command("accept")
@click.argument("partner_name", metavar="PARTNER")
@click.argument("suggestion_id", metavar="SUGGESTION_ID", type=RecordId())
def agreements_accept(partner_name: str, suggestion_id: int) -> None:
    """Accept a replacement suggestion by id: the mapping is re-pointed (recorded)."""
    config, factory, partner_id = _open(partner_name)
    with factory() as session, client_for(session, config, partner_id) as cw:
        row = accept(session, cw, partner_id, suggestion_id, user=WHO, now=now())
        session.commit()
    echo(f"suggestion {suggestion_id} accepted: now on agreement {row.new_agreement_id}")


@agreements.command("dismiss")
@click.argument("partner_name", metavar="PARTNER")
@click.argument("suggestion_id", metavar="SUGGESTION_ID", type=RecordId())
def agreements_dismiss(partner_name: str, suggestion_id: int) -> None:
    """Dismiss a replacement suggestion: that pair is not suggested again."""
    _config, factory, partner_id = _open(partner_name)
    with factory.begin() as session:
        dismiss(session, partner_id, suggestion_id, user=WHO, now=now())
    echo(f"suggestion {suggestion_id} dismissed")


@agreements.command("create")
@click.argument("partner_name", metavar="PARTNER")
@click.argument("external_id", metavar="EXTERNAL_ID")
@click.option("--cw-company-id", required=True, type=RecordId(), help="The ConnectWise company.")
@click.option("--template", "template", required=True, type=RecordId(), help="Agreement to copy.")
@click.option("--name", default=None, help='Default: "<company> - per-user licences".')
@click.option("--start", default=None, help="YYYY-MM-DD; default: the first of next month.")
def agreements_create(
    partner_name: str,
    external_id: str,
    cw_company_id: int,
    template: int,
    name: str | None,
    start: str | None,
) -> None:
    """Create the agreement for a new customer, exactly once, then map the company to it."""
    config, factory, partner_id = _open(partner_name)
    req = CreationRequest(
        partner_id, external_id, cw_company_id, template, name, parse_start(start), WHO
    )
    with factory() as session:
        client = client_for(session, config, partner_id)
    with client:
        result = create_for_company(factory, config, client, req, now())
    if result.creation.state in ("done", "settled_done"):
        echo(result.message)
        return
    echo(f"error: {result.message}", err=True)
    sys.exit(1 if result.creation.state == "failed" else 3)

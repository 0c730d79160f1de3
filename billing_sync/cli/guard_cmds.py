"""`billing-sync guardrails set|show` and `billing-sync drift`: hold rules and hand edits found."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime
from zoneinfo import ZoneInfo

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_sync import guard_rules, mappings, partners
from billing_sync.cli.common import CliError, echo, now, session_factory, settings
from billing_sync.errors import BillingSyncError
from billing_sync.models import Company, Drift, GuardRule, Product


@contextmanager
def command_session() -> Iterator[Session]:
    """One transaction for the command; domain errors become a one-line message and exit 1."""
    factory = session_factory(settings())
    try:
        with factory.begin() as session:
            yield session
    except BillingSyncError as exc:
        raise CliError(str(exc)) from exc
    finally:
        factory.kw["bind"].dispose()


def local(moment: datetime | None, timezone: str) -> str:
    """A time in the partner's zone, with the zone's abbreviation."""
    return "-" if moment is None else f"{moment.astimezone(ZoneInfo(timezone)):%Y-%m-%d %H:%M %Z}"


@click.group()
def guardrails() -> None:
    """Hold rules (when a planned write waits for a person) and the drift policy."""


OPTIONS = (
    ("max_increase_pct", "rise_percent"),
    ("min_increase_users", "rise_users"),
    ("max_decrease_pct", "fall_percent"),
    ("min_decrease_users", "fall_users"),
    ("hold_to_zero", "hold_zero"),
    ("first_run_total", "first_run_total"),
    ("drift_policy", "drift_policy"),
)


@guardrails.command("set")
@click.argument("partner_name", metavar="PARTNER")
@click.option("--company", "external_id", help="Override the rules for one vendor company.")
@click.option("--max-increase-pct", type=float, help="Hold a rise of more than N % ...")
@click.option("--min-increase-users", type=int, help="... and more than N users.")
@click.option("--max-decrease-pct", type=float, help="Hold a fall of more than N % ...")
@click.option("--min-decrease-users", type=int, help="... and more than N users.")
@click.option("--hold-to-zero/--no-hold-to-zero", default=None, help="Hold a write to 0.")
@click.option("--first-run-total", type=int, help="Hold a first run pushing more users.")
@click.option("--drift-policy", type=click.Choice(guard_rules.DRIFT_POLICIES))
def guardrails_set(partner_name: str, external_id: str | None, **given) -> None:
    """Set some hold rules of a partner, or of one of its companies; print the rules in force."""
    values = {rule: given[option] for option, rule in OPTIONS if given[option] is not None}
    if not values:
        raise CliError("nothing to set: give at least one rule option (see --help)")
    with command_session() as session:
        partner = partners.get_partner(session, partner_name)
        company = mappings.get_company(session, partner.id, external_id) if external_id else None
        guard_rules.save_rules(
            session, partner.id, company.id if company else None, values, now=now()
        )
        echo(_shown_rules(session, partner.id), lines=True)


@guardrails.command("show")
@click.argument("partner_name", metavar="PARTNER")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def guardrails_show(partner_name: str, as_json: bool) -> None:
    """The partner's hold rules in force (defaults where unset) and its companies' overrides."""
    with command_session() as session:
        partner = partners.get_partner(session, partner_name)
        if as_json:
            echo(json.dumps(_rules_json(session, partner.id)))
        else:
            echo(_shown_rules(session, partner.id), lines=True)


def _overriding(session: Session, partner_id: int) -> dict[int, str]:
    """External ids of the companies with rules of their own, by company id."""
    return dict(
        session.execute(
            select(Company.id, Company.external_id)
            .join(GuardRule, GuardRule.company_id == Company.id)
            .where(GuardRule.partner_id == partner_id)
        ).all()
    )


def _rules_json(session: Session, partner_id: int) -> dict:
    rules = guard_rules.rules_for(session, partner_id)
    names = _overriding(session, partner_id)
    return {
        "partner": asdict(rules.partner),
        "companies": {
            names[c]: {k: getattr(r, k) for k in guard_rules.COMPANY_FIELDS}
            for c, r in rules.companies.items()
        },
    }


def _describe(r: guard_rules.HoldRules) -> str:
    zero = "held" if r.hold_zero else "written"
    return (
        f"hold a rise of more than {r.rise_percent:g} % and {r.rise_users} users, "
        f"a fall of more than {r.fall_percent:g} % and {r.fall_users} users; to zero: {zero}"
    )


def _shown_rules(session: Session, partner_id: int) -> str:
    rules = guard_rules.rules_for(session, partner_id)
    names = _overriding(session, partner_id)
    lines = [
        _describe(rules.partner),
        f"first run: held when it pushes more than {rules.partner.first_run_total} users in all",
        f"drift policy: {rules.partner.drift_policy}",
    ]
    for company_id in sorted(rules.companies, key=lambda c: names[c]):
        lines.append(f"company {names[company_id]}: {_describe(rules.companies[company_id])}")
    return "\n".join(lines)


@click.command("drift")
@click.argument("partner_name", metavar="PARTNER")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def drift(partner_name: str, as_json: bool) -> None:
    """Current drift: synced additions someone changed by hand in ConnectWise."""
    with command_session() as session:
        partner = partners.get_partner(session, partner_name)
        rows = session.execute(
            select(Drift, Company.external_id, Company.name, Product.code)
            .join(Company, Company.id == Drift.company_id)
            .join(Product, Product.id == Drift.product_id)
            .where(Drift.partner_id == partner.id, Drift.status == "open")
            .order_by(Drift.created_at, Drift.id)
        ).all()
        found = [_drift_json(d, ext, name, code, partner.timezone) for d, ext, name, code in rows]
    if as_json:
        echo(json.dumps(found))
        return
    if not found:
        echo("no drift: every synced addition shows what billing-sync last wrote")
    for d in found:
        echo(
            f"drift {d['id']}: {d['company_name']} ({d['company']}) {d['product']} addition "
            f"{d['addition_id']}: billing-sync wrote {d['expected']:g}, ConnectWise shows "
            f"{d['found']:g} (changed by {d['changed_by'] or 'unknown'} {d['changed_at_local']}; "
            f"found by run {d['run_id']}, policy {d['policy']})"
        )


def _drift_json(d: Drift, external_id: str, name: str, code: str, timezone: str) -> dict:
    return {
        "id": d.id,
        "company": external_id,
        "company_name": name,
        "product": code,
        "agreement_id": d.agreement_id,
        "addition_id": d.addition_id,
        "expected": d.expected,
        "found": d.found,
        "changed_by": d.changed_by,
        "changed_at": d.changed_at.isoformat() if d.changed_at else None,
        "changed_at_local": local(d.changed_at, timezone),
        "policy": d.policy,
        "run_id": d.run_id,
    }

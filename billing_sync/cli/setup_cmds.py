"""Setup commands: schema, partners, users, connection, products, usage and company mappings."""

from __future__ import annotations

import sys

import click

from billing_sync import catalog, mappings, partner_connection, partners
from billing_sync.cli.common import CliError, RecordId, echo, now, session_factory, settings
from billing_sync.db import init_db, make_engine
from billing_sync.usage import UsageImportError, import_usage_csv


@click.command("init-db")
def init_db_command() -> None:
    """Create or upgrade the database schema (safe to run again)."""
    config = settings()
    init_db(make_engine(config.database_url))
    echo("database is up to date")


@click.group()
def partner() -> None:
    """Partners (MSPs)."""


@partner.command("create")
@click.argument("name")
@click.option(
    "--timezone", default="UTC", show_default=True, help="IANA zone, e.g. Europe/Amsterdam"
)
def partner_create(name: str, timezone: str) -> None:
    """Create a partner; NAME is its handle in every other command."""
    with session_factory(settings()).begin() as session:
        created = partners.create_partner(session, name, timezone=timezone, now=now())
        echo(f"partner {created.name} created (time zone {created.timezone})")


@click.group()
def user() -> None:
    """Sign-ins for the web pages."""


@user.command("create")
@click.argument("partner_name", metavar="PARTNER")
@click.argument("email")
@click.option("--role", type=click.Choice(partners.ROLES), default="admin", show_default=True)
def user_create(partner_name: str, email: str, role: str) -> None:
    """Create a user; the password is read from standard input."""
    password = (
        click.prompt("Password", hide_input=True)
        if sys.stdin.isatty()
        else sys.stdin.readline().rstrip("\r\n")
    )
    with session_factory(settings()).begin() as session:
        owner = partners.get_partner(session, partner_name)
        created = partners.create_user(session, owner, email, password, role=role, now=now())
        echo(f"user {created.email} ({created.role}) created for {owner.name}")


@click.group()
def connection() -> None:
    """The partner's ConnectWise connection."""


@connection.command("set")
@click.argument("partner_name", metavar="PARTNER")
@click.option("--site", required=True, help="e.g. na.myconnectwise.net")
@click.option("--company-id", required=True)
@click.option("--public-key", required=True)
@click.option("--private-key", required=True, help="'-' reads it from standard input")
@click.option("--client-id", required=True, help="the clientId GUID from developer.connectwise.com")
def connection_set(
    partner_name: str, site: str, company_id: str, public_key: str, private_key: str, client_id: str
) -> None:
    """Save the connection; the private key is stored encrypted and never shown again."""
    if private_key == "-":
        private_key = sys.stdin.readline().strip()
    config = settings()
    config.require_secret()
    form = partner_connection.ConnectionForm(site, company_id, public_key, private_key, client_id)
    with session_factory(config).begin() as session:
        owner = partners.get_partner(session, partner_name)
        saved = partner_connection.save_connection(session, config, owner, form, now=now())
        echo(
            f"connection saved for {owner.name}: {saved.site}, company {saved.company_id}, "
            f"private key ending in {saved.private_key_hint or '****'}"
        )


@connection.command("test")
@click.argument("partner_name", metavar="PARTNER")
def connection_test(partner_name: str) -> None:
    """Authenticate against ConnectWise (/system/info) and print its version."""
    config = settings()
    with session_factory(config).begin() as session:
        owner = partners.get_partner(session, partner_name)
        try:
            info = partner_connection.authenticate(session, config, owner.id, now=now())
        finally:
            session.commit()  # the outcome of the check is kept either way
        echo(f"connected: ConnectWise {info.version}")


@click.group()
def integration() -> None:
    """Switch writing to ConnectWise on or off."""


def _set_integration(partner_name: str, enabled: bool) -> None:
    with session_factory(settings()).begin() as session:
        owner = partners.get_partner(session, partner_name)
        partners.set_integration(owner, enabled)
    echo(f"integration {'enabled' if enabled else 'disabled'} for {partner_name}")


@integration.command("enable")
@click.argument("partner_name", metavar="PARTNER")
def integration_enable(partner_name: str) -> None:
    """Let runs write to ConnectWise."""
    _set_integration(partner_name, True)


@integration.command("disable")
@click.argument("partner_name", metavar="PARTNER")
def integration_disable(partner_name: str) -> None:
    """Refuse writes (preview still works; settings stay editable)."""
    _set_integration(partner_name, False)


@click.group()
def products() -> None:
    """Vendor products and their ConnectWise catalog items."""


@products.command("add")
@click.argument("code")
@click.argument("name")
def products_add(code: str, name: str) -> None:
    """Register a vendor product."""
    with session_factory(settings()).begin() as session:
        product = catalog.add_product(session, code, name)
        echo(f"product {product.code} added ({product.name})")


@products.command("map")
@click.argument("partner_name", metavar="PARTNER")
@click.argument("code")
@click.option("--cw-product-id", type=RecordId(), required=True)
def products_map(partner_name: str, code: str, cw_product_id: int) -> None:
    """Bill a vendor product as a ConnectWise catalog item (checked in ConnectWise)."""
    config = settings()
    with session_factory(config).begin() as session:
        owner = partners.get_partner(session, partner_name)
        product = catalog.get_product(session, code)
        with partner_connection.client_for(session, config, owner.id) as client:
            item = client.catalog_item(cw_product_id)
        mapping = catalog.map_product(session, owner.id, product, item, now=now())
        echo(f"{product.code} -> ConnectWise {mapping.cw_identifier} (id {mapping.cw_product_id})")


@click.group()
def usage() -> None:
    """Seats from the vendor platform."""


@usage.command("import")
@click.argument("partner_name", metavar="PARTNER")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def usage_import(partner_name: str, path: str) -> None:
    """Import a usage CSV; any bad line rejects the whole file."""
    with session_factory(settings()).begin() as session:
        owner = partners.get_partner(session, partner_name)
        with open(path, "rb") as stream:
            try:
                summary = import_usage_csv(session, owner.id, stream, now=now())
            except UsageImportError as exc:
                for error in exc.errors[1:]:
                    echo(f"  {error}", err=True)
                if exc.more:
                    echo(f"  ... and {exc.more:,} more", err=True)
                raise CliError(
                    f"{path}: {exc.total:,} error(s), nothing imported; first: {exc.errors[0]}"
                ) from exc
    echo(
        f"imported {summary.rows} rows: {summary.companies_created} companies created, "
        f"{summary.companies_renamed} renamed; seats {summary.seats_created} created, "
        f"{summary.seats_updated} updated, {summary.seats_unchanged} unchanged"
    )


@click.group()
def companies() -> None:
    """Company mappings: vendor company -> ConnectWise company and agreement."""


@companies.command("automatch")
@click.argument("partner_name", metavar="PARTNER")
def companies_automatch(partner_name: str) -> None:
    """Map unmatched companies whose names are identical (normalised) in ConnectWise."""
    config = settings()
    with session_factory(config).begin() as session:
        owner = partners.get_partner(session, partner_name)
        with partner_connection.client_for(session, config, owner.id) as client:
            proposals = mappings.automatch(session, owner.id, client, now=now())
        names = mappings.unmatched_names(session, [p.company_id for p in proposals])
    matched = [p for p in proposals if p.agreement is not None]
    for proposal in proposals:
        company = names[proposal.company_id]
        if proposal.agreement is not None:
            echo(
                f"matched  {company} -> {proposal.cw_company.name} "
                f"(company {proposal.cw_company.id}), agreement {proposal.agreement.id} "
                f"{proposal.agreement.name}"
            )
        else:
            echo(f"waiting  {company}: {proposal.reason}")
    echo(f"{len(matched)} matched, {len(proposals) - len(matched)} left unmatched")


@companies.command("map")
@click.argument("partner_name", metavar="PARTNER")
@click.argument("external_id")
@click.option("--cw-company-id", type=RecordId(), required=True)
@click.option("--agreement-id", type=RecordId(), required=True)
def companies_map(
    partner_name: str, external_id: str, cw_company_id: int, agreement_id: int
) -> None:
    """Map a company to a ConnectWise company and one of its active agreements."""
    config = settings()
    with session_factory(config).begin() as session:
        owner = partners.get_partner(session, partner_name)
        company = mappings.get_company(session, owner.id, external_id)
        with partner_connection.client_for(session, config, owner.id) as client:
            agreement = client.agreements_by_ids([agreement_id]).get(agreement_id)
        if agreement is None:
            raise CliError(f"agreement {agreement_id} does not exist in ConnectWise")
        mappings.save_mapping(
            session, company, cw_company_id, agreement, matched_by="manual", now=now()
        )
        echo(f"{company.name} ({external_id}) -> agreement {agreement.id} {agreement.name}")


@companies.command("exclude")
@click.argument("partner_name", metavar="PARTNER")
@click.argument("external_id")
def companies_exclude(partner_name: str, external_id: str) -> None:
    """Leave a company out of every sync."""
    with session_factory(settings()).begin() as session:
        owner = partners.get_partner(session, partner_name)
        company = mappings.get_company(session, owner.id, external_id)
        mappings.exclude_company(session, company, now=now())
        echo(f"{company.name} ({external_id}) excluded")

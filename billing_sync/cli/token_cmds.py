"""`billing-sync token`: API tokens for a partner; a new token goes to stdout alone, once."""

from __future__ import annotations

import click

from billing_sync import api_tokens, partners
from billing_sync.cli.common import RecordId, now, session_factory, settings


@click.group()
def token() -> None:
    """API tokens (Authorization: Bearer ...) for /api/v1."""


@token.command("create")
@click.argument("partner_name", metavar="PARTNER")
@click.option("--name", default="", help="What the token is for, e.g. the vendor's pusher.")
@click.option("--scope", type=click.Choice(api_tokens.SCOPES), default="read", show_default=True)
@click.option(
    "--expires-days",
    type=click.IntRange(1, api_tokens.MAX_EXPIRY_DAYS),
    default=None,
    help="Days until it stops working (default: never).",
)
def token_create(partner_name: str, name: str, scope: str, expires_days: int | None) -> None:
    """Create a token: printed alone on stdout, shown this once and stored only as a digest."""
    with session_factory(settings()).begin() as session:
        owner = partners.get_partner(session, partner_name)
        row, secret = api_tokens.create_token(
            session, owner, name=name, scope=scope, expires_days=expires_days, now=now()
        )
        token_id, expires = row.id, row.expires_at
    until = f", expires {expires:%Y-%m-%d %H:%M} UTC" if expires else ""
    click.echo(
        f"token {token_id} ({scope}{until}) created for {partner_name}; it is shown only now: "
        "store it in a secret store, not in a file or a ticket",
        err=True,
    )
    click.echo(secret)


@token.command("list")
@click.argument("partner_name", metavar="PARTNER")
def token_list(partner_name: str) -> None:
    """List the partner's tokens (never the tokens themselves)."""
    with session_factory(settings())() as session:
        owner = partners.get_partner(session, partner_name)
        rows = api_tokens.list_tokens(session, owner.id)
    at = now()
    click.echo(f"{'id':>5}  {'scope':<5}  {'status':<7}  {'created':<16}  {'expires':<16}  name")
    for row in rows:
        expires = f"{row.expires_at:%Y-%m-%d %H:%M}" if row.expires_at else "never"
        click.echo(
            f"{row.id:>5}  {row.scope:<5}  {api_tokens.token_status(row, at):<7}  "
            f"{row.created_at:%Y-%m-%d %H:%M}  {expires:<16}  {row.name}"
        )


@token.command("revoke")
@click.argument("partner_name", metavar="PARTNER")
@click.argument("token_id", type=RecordId())
def token_revoke(partner_name: str, token_id: int) -> None:
    """Revoke a token at once; requests with it get 401 from now on."""
    with session_factory(settings()).begin() as session:
        owner = partners.get_partner(session, partner_name)
        api_tokens.revoke_token(session, owner.id, token_id, now=now())
    click.echo(f"token {token_id} revoked")

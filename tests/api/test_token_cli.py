"""`billing-sync token create|list|revoke` as real processes: the token alone on stdout."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from billing_sync.api_tokens import digest
from billing_sync.models import ApiToken
from tests.cli.test_cli_contract import cli, ok  # noqa: F401  (the cli fixture)

pytestmark = pytest.mark.slow


def test_create_list_and_revoke(cli, session_factory):  # noqa: F811
    ok(cli("init-db"))
    ok(cli("partner", "create", "msp1"))
    made = cli(
        "token", "create", "msp1", "--name", "pusher", "--scope", "write", "--expires-days", "30"
    )
    token = ok(made).strip()
    assert ok(made) == token + "\n" and token.startswith("bsk_")
    assert "token 1 (write, expires" in made.stderr and "shown only now" in made.stderr
    with session_factory() as session:
        row = session.scalars(select(ApiToken)).one()
    assert (row.token_hash, row.name, row.scope) == (digest(token), "pusher", "write")
    listed = ok(cli("token", "list", "msp1"))
    assert "pusher" in listed and "active" in listed and token not in listed
    assert "token 1 revoked" in ok(cli("token", "revoke", "msp1", "1"))
    assert "revoked" in ok(cli("token", "list", "msp1"))


@pytest.mark.parametrize(
    "args, message",
    [
        (("token", "create", "nobody"), "no partner named 'nobody'"),
        (("token", "create", "msp1", "--scope", "admin"), "invalid value for '--scope'"),
        (("token", "create", "msp1", "--expires-days", "0"), "invalid value for '--expires-days'"),
        (("token", "revoke", "msp1", "7"), "no token 7"),
    ],
)
def test_bad_token_commands_are_one_line_errors(cli, args, message):  # noqa: F811
    ok(cli("init-db"))
    ok(cli("partner", "create", "msp1"))
    result = cli(*args)
    assert result.returncode != 0 and result.stdout == ""
    assert message in result.stderr.lower() and "Traceback" not in result.stderr

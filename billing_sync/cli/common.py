"""What every command shares: settings, a session factory, a clock and one-line errors."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import click
from sqlalchemy import inspect
from sqlalchemy.orm import Session, sessionmaker

from billing_sync.connectwise.errors import ConnectWiseError
from billing_sync.crypto import SecretDecryptError
from billing_sync.db import make_engine, make_session_factory
from billing_sync.errors import BillingSyncError
from billing_sync.settings import MissingSecretError, Settings


class CliError(click.ClickException):
    """A one-line error for the terminal."""


def now() -> datetime:
    """The CLI's clock (the shell is the only place that reads it)."""
    return datetime.now(UTC)


def settings() -> Settings:
    """Settings from the environment."""
    return Settings.from_env()


def session_factory(config: Settings, *, check_schema: bool = True) -> sessionmaker[Session]:
    """A session factory; refuses early when the schema was never created."""
    engine = make_engine(config.database_url)
    if check_schema and not inspect(engine).has_table("alembic_version"):
        raise CliError("the database has no schema yet: run `billing-sync init-db` first")
    return make_session_factory(engine)


@contextmanager
def handle_errors() -> Iterator[None]:
    """Turn expected failures into `error: ...` on stderr and exit status 1 (usage errors 2)."""
    try:
        yield
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except ConnectWiseError as exc:
        click.echo(f"error: {exc} ({exc.advice})", err=True)
        sys.exit(1)
    except (BillingSyncError, MissingSecretError, SecretDecryptError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)

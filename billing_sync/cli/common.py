"""What every command shares: settings, a session factory, a clock and one-line errors."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import click
from sqlalchemy import inspect
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from billing_sync.connectwise.errors import ConnectWiseError
from billing_sync.crypto import SecretDecryptError
from billing_sync.db import database_problem, make_engine, make_session_factory
from billing_sync.errors import BillingSyncError
from billing_sync.settings import MissingSecretError, Settings
from billing_sync.validation import printable, record_id


class CliError(click.ClickException):
    """A one-line error for the terminal."""


def echo(message: str, *, err: bool = False, lines: bool = False) -> None:
    """click.echo with control characters escaped: a name holding ESC must not drive the terminal.

    Newlines are escaped too (a name must not forge an output line) unless `lines` says the
    message is several lines of our own making.
    """
    click.echo(printable(message, keep_newlines=lines), err=err)


class RecordId(click.ParamType):
    """A ConnectWise or database id: ASCII digits from 1 to 2**31 - 1 (else exit 1, one line)."""

    name = "id"

    def convert(self, value, param, ctx) -> int:
        # InvalidInput, not click's usage error: bad input is exit 1 with one line, like the rest.
        return record_id(value, param.opts[0] if param is not None else "id")


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
        _fail(exc.format_message(), exc.exit_code)
    except ConnectWiseError as exc:
        _fail(f"{exc} ({exc.advice})")
    except (BillingSyncError, MissingSecretError, SecretDecryptError) as exc:
        _fail(str(exc))
    except OperationalError as exc:  # locked (SQLite), gone away, refused: a line, not a trace
        _fail(database_problem(exc))


def _fail(message: str, status: int = 1) -> None:
    # One line whatever the message holds: newlines and controls are escaped too.
    click.echo(f"error: {printable(message)}", err=True)
    sys.exit(status)

"""`billing-sync statement`: a month's customer statements as CSV or PDF, zipped per partner."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import click

from billing_sync import partners
from billing_sync.cli.common import CliError, echo, now, session_factory, settings
from billing_sync.statements.bundle import FORMATS
from billing_sync.statements.service import (
    StatementRequest,
    company_by_external_id,
    export_company,
    export_zip,
    statement_month,
)


@contextmanager
def atomic_output(target: Path) -> Iterator[BinaryIO]:
    """A temporary file beside `target`, renamed onto it only when the block succeeds."""
    if target.is_dir():
        raise CliError(f"cannot write {target}: it is a directory")
    try:
        handle, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise CliError(f"cannot write {target}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(handle, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, target)
    except OSError as exc:
        raise CliError(f"cannot write {target}: {exc.strerror or exc}") from exc
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


@click.command()
@click.argument("partner_name", metavar="PARTNER")
@click.option("--month", required=True, help="YYYY-MM, in the partner's time zone.")
@click.option("--company", "external_id", help="One company's vendor id (else a zip of all).")
@click.option("--format", "fmt", type=click.Choice(sorted(FORMATS)), required=True)
@click.option("-o", "--output", required=True, help="The file to write (replaced whole).")
def statement(partner_name: str, month: str, external_id: str | None, fmt: str, output: str):
    """Who was counted at month end, who left, and what was written where, per company.

    With --company: that company's statement; without: a zip with one file per company that
    had seats or writes that month. The file appears only once it is complete.
    """
    target = Path(output)
    at = now()
    with session_factory(settings())() as session:
        partner = partners.get_partner(session, partner_name)
        period = statement_month(month, now=at, tz=partner.timezone)
        ids = None
        if external_id is not None:
            ids = (company_by_external_id(session, partner.id, external_id).id,)
        request = StatementRequest(partner.id, period, fmt, at, ids)
        with atomic_output(target) as out:
            if ids is None:
                export = export_zip(session, request, out)
            else:
                export = export_company(session, request, out)
    companies = f"{export.companies} compan{'y' if export.companies == 1 else 'ies'}"
    echo(f"{target}: {companies}, {export.users} users counted at month end")

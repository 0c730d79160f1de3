"""Statement downloads the usage and run pages share: read month and format, send the file."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import BinaryIO

from flask import request, send_file

from billing_sync.periods import Period
from billing_sync.statements.service import Export, statement_format, statement_month
from web.common import partner
from web.state import now

# A zip of a few hundred PDFs stays in memory up to this size, then spills to a temporary file.
SPOOL_BYTES = 16 * 1024 * 1024


def month_arg() -> Period:
    """?month=YYYY-MM, a month begun in the partner's zone; InvalidInput (400) otherwise."""
    return statement_month(request.args.get("month"), now=now(), tz=partner().timezone)


def format_arg() -> str:
    """?format=csv|pdf; InvalidInput (400) otherwise."""
    return statement_format(request.args.get("format"))


def download(write: Callable[[BinaryIO], Export]):
    """Send what `write` puts in a spooled file as an attachment named by its Export."""
    # Not a with-block: send_file streams the spool after we return and closes it then.
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
    try:
        export = write(spool)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    response = send_file(
        spool,
        mimetype=export.content_type,
        as_attachment=True,
        download_name=export.filename,
        max_age=0,
    )
    response.content_type = export.content_type  # as is: send_file would add a second charset
    response.headers["Cache-Control"] = "no-store"  # a customer's names: no shared caches
    return response

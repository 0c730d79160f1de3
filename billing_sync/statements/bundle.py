"""Statements as files: one company's CSV or PDF, or a zip with one file per company."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from typing import BinaryIO

from billing_sync.periods import Period
from billing_sync.statements.csv_out import company_csv
from billing_sync.statements.model import CompanyStatement, Statement


def _company_pdf(statement: Statement, company: CompanyStatement) -> bytes:
    # fpdf2 takes a third of a second to import: only commands that write a PDF pay for it.
    from billing_sync.statements.pdf_out import company_pdf

    return company_pdf(statement, company)


Renderer = Callable[[Statement, CompanyStatement], bytes]
FORMATS: dict[str, tuple[Renderer, str]] = {
    "csv": (company_csv, "text/csv; charset=utf-8"),
    "pdf": (_company_pdf, "application/pdf"),
}
ZIP_TYPE = "application/zip"
NAME_CHARS = 80
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str) -> str:
    """A file-name part of ASCII letters, digits, dot, dash and underscore (never '..' or empty)."""
    cleaned = _UNSAFE.sub("_", text).strip("._")[:NAME_CHARS]
    return cleaned or "company"


def company_file_name(company: CompanyStatement, period: Period, fmt: str) -> str:
    """`<external_id>-<YYYY-MM>.<ext>`, made safe."""
    return f"{safe_name(company.external_id)}-{period}.{fmt}"


def render(statement: Statement, company: CompanyStatement, fmt: str) -> bytes:
    """One company's statement in `fmt` (csv or pdf)."""
    renderer, _ = FORMATS[fmt]
    return renderer(statement, company)


def content_type(fmt: str) -> str:
    """The media type of one company's statement in `fmt`."""
    return FORMATS[fmt][1]


def write_zip(statement: Statement, fmt: str, out: BinaryIO) -> list[CompanyStatement]:
    """Zip one file per company with anything to show into `out`; returns the companies zipped."""
    zipped, used = [], set()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for company in statement.companies:
            if company.empty:
                continue
            name = company_file_name(company, statement.period, fmt)
            if name in used:  # two external ids that differ only in unsafe characters
                unique = f"{safe_name(company.external_id)}-{company.company_id}"
                name = f"{unique}-{statement.period}.{fmt}"
            used.add(name)
            archive.writestr(name, render(statement, company, fmt))
            zipped.append(company)
    return zipped

"""A company's statement as one CSV: a `section` column says what each row is."""

from __future__ import annotations

import csv
import io
from datetime import datetime

from billing_sync.statements.model import CompanyStatement, Statement

COLUMNS = (
    "section",
    "item",
    "value",
    "user_id",
    "email",
    "product",
    "since",
    "left_at",
    "run_id",
    "run_at",
    "trigger",
    "agreement_id",
    "addition_id",
    "action",
    "quantity_before",
    "quantity_after",
    "state",
)
# A cell a spreadsheet would run as a formula; names and e-mails come from the vendor's data.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutral(value: object) -> str:
    """A cell's text, with a leading apostrophe when a spreadsheet would read it as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def stamp(value: datetime) -> str:
    """An instant in the partner's zone, ISO 8601 with its offset, to the second."""
    return value.isoformat(timespec="seconds")


def quantity(value: float | None) -> str:
    """A quantity as ConnectWise holds it: whole numbers without a trailing .0."""
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _info(statement: Statement, company: CompanyStatement) -> list[tuple[str, str]]:
    return [
        ("partner", statement.partner),
        ("company", company.name),
        ("external_id", company.external_id),
        ("cw_company", company.cw_company),
        ("agreement", company.agreement),
        ("month", str(statement.period)),
        ("zone", statement.timezone),
        ("month_end", stamp(statement.boundary)),
        ("month_closed", "yes" if statement.closed else "no"),
        ("generated_at", stamp(statement.generated_at)),
    ]


def _rows(statement: Statement, company: CompanyStatement):
    for item, value in _info(statement, company):
        yield {"section": "info", "item": item, "value": value}
    for user in company.counted:
        yield {"section": "counted", "user_id": user.user_id, "email": user.email,
               "product": user.product, "since": stamp(user.since)}  # fmt: skip
    for user in company.left:
        yield {"section": "left", "user_id": user.user_id, "email": user.email,
               "product": user.product, "since": stamp(user.since),
               "left_at": stamp(user.left_at)}  # fmt: skip
    for write in company.writes:
        yield {
            "section": "written",
            "product": write.product,
            "run_id": write.run_id,
            "run_at": stamp(write.run_at),
            "trigger": write.trigger,
            "agreement_id": write.agreement_id,
            "addition_id": write.addition_id,
            "action": write.action,
            "quantity_before": quantity(write.quantity_before),
            "quantity_after": quantity(write.quantity_after),
            "state": write.state,
        }
    for product, users in company.totals().items():
        yield {"section": "total", "item": "users", "product": product, "value": users}
    for product, billed in company.billed:
        yield {"section": "total", "item": "billed", "product": product, "value": billed}


def company_csv(statement: Statement, company: CompanyStatement) -> bytes:
    """UTF-8 CSV with a header row (a BOM, so spreadsheets read the names right)."""
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in _rows(statement, company):
        writer.writerow({name: neutral(row.get(name)) for name in COLUMNS})
    return out.getvalue().encode("utf-8-sig")

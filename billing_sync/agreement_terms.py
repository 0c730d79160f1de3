"""What a new agreement is made of: defaults, the checks before creating, and the POST body."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from billing_sync.errors import InvalidInput
from billing_sync.validation import has_control, shown

MARKER_PREFIX = "billing-sync:agreement:"
NAME_LIMIT = 100  # ConnectWise: Agreement.name max length 100
NAME_SUFFIX = " - per-user licences"
# Copied from the template when it has them (plain values only): how the agreement bills.
COPIED = (
    "applicationUnits",
    "applicationLimit",
    "applicationCycle",
    "applicationUnlimitedFlag",
    "oneTimeFlag",
    "prorateFlag",
    "billTime",
    "billExpenses",
    "billProducts",
    "taxable",
    "invoicingCycle",
    "periodType",
)


@dataclass(frozen=True)
class Terms:
    """The checked terms of one new agreement."""

    name: str
    start: date
    type_id: int
    type_name: str | None
    billing_cycle_id: int | None
    billing_cycle: str | None
    contact_id: int | None
    copied: tuple[tuple[str, Any], ...] = ()


def marker(creation_id: int) -> str:
    """The ownership marker a created agreement carries in `internalNotes`."""
    return f"{MARKER_PREFIX}{creation_id}"


def default_name(vendor_name: str) -> str:
    """`<vendor company name> - per-user licences`, the name cut so the whole fits 100 chars."""
    room = NAME_LIMIT - len(NAME_SUFFIX)
    return " ".join(vendor_name.split())[:room].rstrip() + NAME_SUFFIX


def first_of_next_month(now: datetime, zone: ZoneInfo) -> date:
    """The first day of the month after `now` in the partner's zone."""
    local = now.astimezone(zone).date()
    return date(local.year + 1, 1, 1) if local.month == 12 else date(local.year, local.month + 1, 1)


def checked_name(name: str | None, vendor_name: str) -> str:
    """The admin's name, or the default; refused when empty after trimming or too long."""
    if name is None or not name.strip():
        return default_name(vendor_name)
    cleaned = " ".join(name.split())
    if has_control(cleaned):
        raise InvalidInput("the agreement name contains a control character")
    if len(cleaned) > NAME_LIMIT:
        raise InvalidInput(f"the agreement name is {len(cleaned)} characters; at most {NAME_LIMIT}")
    return cleaned


def parse_start(raw: str | None) -> date | None:
    """`YYYY-MM-DD` from a form or the command line; None when blank."""
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    try:
        value = date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        value = None
    if value is None or not 2000 <= value.year <= 2100:
        raise InvalidInput(f"the start date {shown(text)} is not a date like 2026-12-01")
    return value


def checked_start(start: date | None, now: datetime, zone: ZoneInfo) -> date:
    """The start date, by default the first of next month; never in the past (partner's zone)."""
    if start is None:
        return first_of_next_month(now, zone)
    today = now.astimezone(zone).date()
    if start < today:
        raise InvalidInput(f"the start date {start.isoformat()} is in the past")
    return start


def _ref_id(record: dict, name: str) -> tuple[int | None, str | None]:
    ref = record.get(name)
    if not isinstance(ref, dict) or isinstance(ref.get("id"), bool):
        return None, None
    ref_id = ref.get("id") if isinstance(ref.get("id"), int) and ref["id"] > 0 else None
    label = ref.get("name") if isinstance(ref.get("name"), str) else None
    return ref_id, label


def terms_from(template: dict, company: dict, name: str, start: date) -> Terms:
    """Pure: the new agreement's terms from the template's and the company's ConnectWise JSON."""
    type_id, type_name = _ref_id(template, "type")
    if type_id is None:
        raise InvalidInput(f"template agreement {template.get('id')} has no agreement type")
    cycle_id, cycle = _ref_id(template, "billingCycle")
    contact_id, _ = _ref_id(company, "defaultContact")
    if contact_id is None and template.get("contact") is not None:
        raise InvalidInput(
            f"ConnectWise company {company.get('id')} has no default contact, and an agreement "
            "needs one: set it in ConnectWise first"
        )
    copied = tuple(
        (key, template[key])
        for key in COPIED
        if isinstance(template.get(key), str | bool | int | float)
    )
    return Terms(name, start, type_id, type_name, cycle_id, cycle, contact_id, copied)


def agreement_body(terms: Terms, cw_company_id: int, mark: str) -> dict[str, Any]:
    """Pure: the JSON body of `POST /finance/agreements`."""
    body: dict[str, Any] = dict(terms.copied)
    body.update(
        name=terms.name,
        type={"id": terms.type_id},
        company={"id": cw_company_id},
        startDate=datetime(
            terms.start.year, terms.start.month, terms.start.day, tzinfo=UTC
        ).strftime("%Y-%m-%dT%H:%M:%SZ"),
        noEndingDateFlag=True,
        internalNotes=mark,
    )
    if terms.contact_id is not None:
        body["contact"] = {"id": terms.contact_id}
    if terms.billing_cycle_id is not None:
        body["billingCycle"] = {"id": terms.billing_cycle_id}
    return body


def check_request(client, req, vendor_name: str, zone: ZoneInfo, now: datetime) -> Terms:
    """Read ConnectWise: the company (not deleted, no active agreement) and the template."""
    name = checked_name(req.name, vendor_name)
    start = checked_start(req.start, now, zone)
    company = client.record_json("companies", req.cw_company_id)
    if company.get("deletedFlag"):
        raise InvalidInput(f"ConnectWise company {req.cw_company_id} is deleted")
    active = [a for a in client.company_agreements(req.cw_company_id) if not a.inactive_reason(now)]
    if active:
        first = active[0]
        raise InvalidInput(
            f"ConnectWise company {req.cw_company_id} already has an active agreement "
            f"{first.id} ({first.name}): map the company to it instead"
        )
    template = client.record_json("agreements", req.template_id)
    return terms_from(template, company, name, start)

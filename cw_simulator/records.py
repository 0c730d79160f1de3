"""Builders of ConnectWise JSON records: Company, Agreement, CatalogItem, Addition, Info."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from cw_simulator.conditions import parse_datetime

KINDS = ("companies", "agreements", "catalog", "additions")  # the record tables

VERSION = "v2025.8"
COMPANY_STATUS_IDS = {"Active": 1, "Inactive": 2, "Not-Approved": 3, "Credit Hold": 4}
AGREEMENT_STATUSES = ("Active", "Cancelled", "Expired", "Inactive")
BILL_CUSTOMER = ("Billable", "DoNotBill", "NoCharge")


def now_utc() -> datetime:
    """The current instant, whole seconds (CW date-times carry no fractions)."""
    return datetime.now(UTC).replace(microsecond=0)


def format_datetime(value: datetime | date | str | None) -> str | None:
    """CW's date-time text `YYYY-MM-DDTHH:MM:SSZ` (a date means UTC midnight); None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        value = parse_datetime(value)
    elif not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    elif value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def info_block(now: datetime, **extra: str) -> dict[str, str]:
    """The `_info` object CW attaches to every record."""
    return {"lastUpdated": format_datetime(now), "updatedBy": "simulator", **extra}


def _compact(record: dict[str, Any]) -> dict[str, Any]:
    # CW omits null fields from its JSON rather than sending `null`.
    return {key: value for key, value in record.items() if value is not None}


def company_identifier(name: str) -> str:
    """A CW-style identifier derived from a name: letters and digits, at most 30."""
    return "".join(ch for ch in name if ch.isalnum())[:30] or "Company"


def company_reference(company: dict[str, Any]) -> dict[str, Any]:
    """`CompanyReference` as CW nests it in other records."""
    return {"id": company["id"], "identifier": company["identifier"], "name": company["name"]}


def company_record(
    id: int, name: str, identifier: str, deleted: bool, status: str, now: datetime
) -> dict[str, Any]:
    """A Company as `GET /company/companies/{id}` returns it."""
    status_id = COMPANY_STATUS_IDS.get(status, len(COMPANY_STATUS_IDS) + 1)
    return _compact(
        {
            "id": id,
            "identifier": identifier,
            "name": name,
            "status": {"id": status_id, "name": status},
            "addressLine1": "1 Main Street",
            "city": "Tampa",
            "state": "FL",
            "zip": "33602",
            "country": {"id": 1, "name": "United States"},
            "phoneNumber": "8135550100",
            # The contact an agreement of this company names (agreement_record's contact).
            "defaultContact": {"id": id, "name": "Primary Contact"},
            "website": f"www.{identifier.lower()}.example",
            "types": [{"id": 1, "name": "Client"}],
            "deletedFlag": deleted,
            "dateDeleted": format_datetime(now) if deleted else None,
            "deletedBy": "simulator" if deleted else None,
            "dateAcquired": format_datetime(now),
            "leadFlag": False,
            "isVendorFlag": False,
            "_info": info_block(now, dateEntered=format_datetime(now)),
        }
    )


def _first_of_next_month(now: datetime) -> str:
    year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
    return f"{year:04d}-{month:02d}-01T00:00:00Z"


def agreement_record(
    id: int,
    company: dict[str, Any],
    name: str,
    status: str,
    cancelled: bool,
    end_date: str | None,
    no_ending_date: bool,
    agreement_type: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """An Agreement as `GET /finance/agreements/{id}` returns it."""
    return _compact(
        {
            "id": id,
            "name": name,
            "type": agreement_type,
            "company": company_reference(company),
            "contact": {"id": company["id"], "name": "Primary Contact"},
            "startDate": "2024-01-01T00:00:00Z",
            "billStartDate": "2024-01-01T00:00:00Z",
            "nextInvoiceDate": _first_of_next_month(now),
            "prorateFlag": False,
            "endDate": None if no_ending_date else end_date,
            "noEndingDateFlag": no_ending_date,
            "cancelledFlag": cancelled,
            "dateCancelled": format_datetime(now) if cancelled else None,
            "applicationUnits": "Amount",
            "applicationCycle": "CalendarMonth",
            "applicationUnlimitedFlag": False,
            "oneTimeFlag": False,
            "billingCycle": {"id": 1, "name": "Monthly"},
            "billAmount": 0.0,
            "taxable": False,
            "billTime": "Billable",
            "billExpenses": "Billable",
            "billProducts": "Billable",
            "invoicingCycle": "CalendarYear",
            "employeeCompRate": "Actual",
            "periodType": "Current",
            "billToCompany": company_reference(company),
            "agreementStatus": status,
            "_info": info_block(now, dateEntered=format_datetime(now)),
        }
    )


def catalog_record(
    id: int,
    identifier: str,
    description: str,
    inactive: bool,
    price: float,
    cost: float,
    now: datetime,
) -> dict[str, Any]:
    """A CatalogItem as `GET /procurement/catalog/{id}` returns it."""
    return {
        "id": id,
        "identifier": identifier,
        "description": description,
        "inactiveFlag": inactive,
        "subcategory": {"id": 1, "name": "Software"},
        "type": {"id": 1, "name": "Software"},
        "productClass": "NonInventory",
        "serializedFlag": False,
        "serializedCostFlag": False,
        "phaseProductFlag": False,
        "unitOfMeasure": {"id": 1, "name": "Each"},
        "price": float(price),
        "cost": float(cost),
        "priceAttribute": "FixedFee",
        "taxableFlag": False,
        "dropShipFlag": False,
        "specialOrderFlag": False,
        "customerDescription": description,
        "recurringFlag": True,
        "recurringRevenue": float(price),
        "recurringCost": float(cost),
        "recurringOneTimeFlag": False,
        "recurringBillCycle": {"id": 1, "name": "Monthly"},
        "category": {"id": 1, "name": "Software"},
        "billableOption": "Billable",
        "_info": info_block(now, dateEntered=format_datetime(now)),
    }


def product_reference(item: dict[str, Any]) -> dict[str, Any]:
    """`IvItemReference`: the spec's product reference is id + identifier (no description)."""
    return {"id": item["id"], "identifier": item["identifier"]}


def derive_addition(addition: dict[str, Any], agreement: dict[str, Any]) -> None:
    """Recompute, in place, the fields CW derives from quantity, prices and the agreement."""
    for name in _ADDITION_DOUBLES:
        if isinstance(addition.get(name), int):
            addition[name] = float(addition[name])  # CW's doubles always serialise as `5.0`
    quantity = addition.get("quantity") or 0.0
    less = addition.get("lessIncluded") or 0.0
    ext_price = round((quantity - less) * (addition.get("unitPrice") or 0.0), 2)
    ext_cost = round(quantity * (addition.get("unitCost") or 0.0), 2)
    addition.update(
        extPrice=ext_price,
        extCost=ext_cost,
        margin=round(ext_price - ext_cost, 2),
        agreementStatus=agreement.get("agreementStatus"),
    )


_ADDITION_DOUBLES = ("quantity", "lessIncluded", "unitPrice", "unitCost", "billedQuantity")


def addition_record(
    id: int,
    agreement: dict[str, Any],
    item: dict[str, Any],
    fields: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """An Addition as `GET /finance/agreements/{parentId}/additions/{id}` returns it."""
    record = _compact(
        {
            "id": id,
            "product": product_reference(item),
            "quantity": 0.0,
            "lessIncluded": 0.0,
            "unitPrice": item.get("price", 0.0),
            "unitCost": item.get("cost", 0.0),
            "billCustomer": "Billable",
            "effectiveDate": format_datetime(now.date()),
            "taxableFlag": False,
            "invoiceDescription": item["description"],
            "purchaseItemFlag": False,
            "specialOrderFlag": False,
            "agreementId": agreement["id"],
            "description": item["description"],
            "billedQuantity": 0.0,
            "uom": "Each",
            "sequenceNumber": float(id),
            "prorateCost": 0.0,
            "proratePrice": 0.0,
            "extendedProrateCost": 0.0,
            "extendedProratePrice": 0.0,
            "prorateCurrentPeriodFlag": False,
            "_info": info_block(now, dateEntered=format_datetime(now)),
            **fields,
        }
    )
    derive_addition(record, agreement)
    return record


def system_info() -> dict[str, Any]:
    """`GET /system/info` of an on-premise-like instance."""
    return {
        "version": VERSION,
        "isCloud": False,
        "serverTimeZone": "Eastern Standard Time",
        "licenseBits": [{"name": "SimulatorLicense", "activeFlag": True}],
        "cloudRegion": "NA",
        "maxWorkFlowRecordsAllowed": 1000,
    }

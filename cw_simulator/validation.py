"""Request bodies to stored records, validated the way ConnectWise validates them."""

from __future__ import annotations

from typing import Any

from cw_simulator import records as rec
from cw_simulator.errors import field_error, invalid
from cw_simulator.store import SimulatorState

Record = dict[str, Any]


class _Checker:
    """Collects every field problem of one body, so the 400 lists them all like CW."""

    def __init__(self, resource: str, body: Record) -> None:
        self.resource, self.body, self.errors = resource, body, []

    def fail(self, field: str, code: str, message: str) -> None:
        self.errors.append(field_error(self.resource, field, code, message))

    def required(self, *names: str) -> None:
        for name in names:
            if self.body.get(name) in (None, ""):
                self.fail(name, "NullValue", f"The {name} field is required.")

    def number(self, name: str) -> float | None:
        value = self.body.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(name, "InvalidValue", f"The {name} field must be a number.")
            return None
        return float(value)

    def choice(self, name: str, allowed: tuple[str, ...]) -> None:
        value = self.body.get(name)
        if value is not None and value not in allowed:
            self.fail(
                name, "InvalidValue", f"The {name} field must be one of {', '.join(allowed)}."
            )

    def date(self, name: str) -> str | None:
        value = self.body.get(name)
        if value is None:
            return None
        try:
            return rec.format_datetime(str(value))
        except ValueError:
            self.fail(name, "InvalidValue", f"The {name} field is not a valid date-time.")
            return None

    def reference(self, name: str, table: dict[int, Record], label: str) -> Record | None:
        ref = self.body.get(name)
        if ref is None:
            return None
        if not isinstance(ref, dict):
            self.fail(name, "InvalidValue", f"The {name} field must be an object.")
            return None
        found = table.get(ref["id"]) if isinstance(ref.get("id"), int) else None
        if found is None and isinstance(ref.get("identifier"), str):
            wanted = ref["identifier"].casefold()
            found = next((r for r in table.values() if r["identifier"].casefold() == wanted), None)
        if found is None:
            self.fail(name, "InvalidValue", f"{label} {_ref_text(ref)} was not found.")
        return found

    def done(self) -> None:
        if self.errors:
            raise invalid(self.resource, self.errors)


def _ref_text(ref: Record) -> str:
    return f"id {ref['id']}" if "id" in ref else f"identifier {ref.get('identifier')!r}"


def _keep(record: Record, existing: Record | None) -> Record:
    # Updates keep the creation stamp, as CW keeps dateEntered.
    if existing is not None and "_info" in existing:
        record["_info"]["dateEntered"] = existing["_info"].get("dateEntered", "")
    return record


def build_company(state: SimulatorState, id: int, body: Record, existing: Record | None) -> Record:
    """A Company from a POST/PUT body (required: identifier, name)."""
    check = _Checker("company", body)
    check.required("identifier", "name")
    check.done()
    status = (body.get("status") or {}).get("name", "Active")
    record = rec.company_record(
        id, body["name"], body["identifier"], bool(body.get("deletedFlag")), status, rec.now_utc()
    )
    return _keep(record, existing)


def build_agreement(
    state: SimulatorState, id: int, body: Record, existing: Record | None
) -> Record:
    """An Agreement from a POST/PUT body (required: name, type, company, contact)."""
    check = _Checker("agreement", body)
    check.required("name", "type", "company", "contact")
    check.choice("agreementStatus", rec.AGREEMENT_STATUSES)
    company = check.reference("company", state.table("companies"), "Company")
    end_date = check.date("endDate")
    start_date = check.date("startDate")
    check.done()
    type_ref = body["type"] if isinstance(body["type"], dict) else {}
    type_name = type_ref.get("name") or "Managed Services"
    record = rec.agreement_record(
        id, company, body["name"], body.get("agreementStatus", "Active"),
        bool(body.get("cancelledFlag")), end_date, body.get("noEndingDateFlag", end_date is None),
        state.agreement_type(type_name), rec.now_utc(),
    )  # fmt: skip
    if isinstance(body["contact"], dict) and isinstance(body["contact"].get("id"), int):
        record["contact"] = {"id": body["contact"]["id"], "name": body["contact"].get("name", "")}
    return _keep(_kept_agreement_fields(record, body, start_date), existing)


def _kept_agreement_fields(record: Record, body: Record, start_date: str | None) -> Record:
    """What CW stores from a body beyond the basics: start, billing cycle, internal notes."""
    if start_date is not None:
        record["startDate"] = record["billStartDate"] = start_date
    cycle = body.get("billingCycle")
    if isinstance(cycle, dict) and isinstance(cycle.get("id"), int):
        record["billingCycle"] = {"id": cycle["id"], "name": cycle.get("name") or "Monthly"}
    if isinstance(body.get("internalNotes"), str):
        record["internalNotes"] = body["internalNotes"]
    return record


def build_catalog_item(
    state: SimulatorState, id: int, body: Record, existing: Record | None
) -> Record:
    """A CatalogItem from a POST/PUT body (required fields as in the spec)."""
    check = _Checker("catalogItem", body)
    check.required("identifier", "description", "subcategory", "type", "customerDescription")
    price, cost = check.number("price"), check.number("cost")
    check.done()
    record = rec.catalog_record(
        id, body["identifier"], body["description"], bool(body.get("inactiveFlag")),
        price or 0.0, cost or 0.0, rec.now_utc(),
    )  # fmt: skip
    record["customerDescription"] = body["customerDescription"]
    return _keep(record, existing)


_ADDITION_TEXT = ("description", "invoiceDescription", "serialNumber")


def build_addition(
    state: SimulatorState, id: int, body: Record, existing: Record | None, agreement: Record
) -> Record:
    """An Addition from a POST/PUT body (required: product, billCustomer)."""
    check = _Checker("agreementAddition", body)
    check.required("product", "billCustomer")
    check.choice("billCustomer", rec.BILL_CUSTOMER)
    item = check.reference("product", state.table("catalog"), "Product")
    numbers = {n: check.number(n) for n in ("quantity", "lessIncluded", "unitPrice", "unitCost")}
    dates = {n: check.date(n) for n in ("effectiveDate", "cancelledDate")}
    bill_start = agreement.get("billStartDate")
    if (
        dates["effectiveDate"]
        and bill_start
        and dates["effectiveDate"] < rec.format_datetime(bill_start)
    ):
        check.fail(
            "effectiveDate",
            "InvalidValue",
            "effectiveDate cannot be less than the agreement billing start date",
        )
    for name in _ADDITION_TEXT:
        if body.get(name) is not None and not isinstance(body[name], str):
            check.fail(name, "InvalidValue", f"The {name} field must be a string.")
    check.done()
    fields = {**numbers, **dates, "billCustomer": body["billCustomer"]}
    fields.update({n: body.get(n) for n in (*_ADDITION_TEXT, "taxableFlag")})
    given = {k: v for k, v in fields.items() if v is not None}
    record = rec.addition_record(id, agreement, item, given, rec.now_utc())
    if existing is not None:
        record["sequenceNumber"] = existing.get("sequenceNumber", float(id))
    return _keep(record, existing)

"""Marshmallow schemas for ConnectWise payloads: JSON in, frozen records out (no database)."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from marshmallow import EXCLUDE, Schema, fields, post_dump, post_load, validate
from marshmallow import ValidationError as SchemaError

from billing_sync.connectwise.conditions import format_datetime
from billing_sync.connectwise.errors import ConnectWiseError
from billing_sync.connectwise.records import (
    Addition,
    Agreement,
    CatalogItem,
    CwCompany,
    SystemInfo,
)


class UtcDateTime(fields.DateTime):
    """ConnectWise date-time (`2026-01-01T00:00:00Z`) <-> aware UTC datetime."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        # ConnectWise sends UTC; a value without an offset is UTC too, never local time.
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else format_datetime(value)


# ConnectWise omits or nulls most fields: optional ones load as None.
OPTIONAL: dict[str, Any] = {"allow_none": True, "load_default": None}
# Strings we store or show are refused past their column's size (models.py), not cut or crashed on.
NAME = validate.Length(max=255)  # names, identifiers, descriptions
VERSION = validate.Length(max=64)  # connections.cw_version
SHORT = validate.Length(max=100)  # statuses, classes, time zones: shown, not stored


class _Base(Schema):
    class Meta:
        unknown = EXCLUDE


class _Ref(_Base):
    """A ConnectWise reference object (`{"id": 1, "identifier": "...", "name": "..."}`)."""

    id = fields.Integer(**OPTIONAL)
    identifier = fields.String(validate=NAME, **OPTIONAL)
    name = fields.String(validate=NAME, **OPTIONAL)


class _Info(_Base):
    """The `_info` block ConnectWise attaches to a record: who changed it last, and when."""

    # Informational only (who edited by hand): cut to its column, never a reason to refuse.
    updated_by = fields.String(data_key="updatedBy", **OPTIONAL)
    last_updated = UtcDateTime(data_key="lastUpdated", **OPTIONAL)


class AdditionSchema(_Base):
    """GET/POST/PATCH agreement addition -> Addition."""

    id = fields.Integer(required=True)
    agreement_id = fields.Integer(data_key="agreementId", required=True)
    product = fields.Nested(_Ref, required=True)
    quantity = fields.Float(**OPTIONAL)
    bill_customer = fields.String(data_key="billCustomer", validate=SHORT, **OPTIONAL)
    effective_date = UtcDateTime(data_key="effectiveDate", **OPTIONAL)
    cancelled_date = UtcDateTime(data_key="cancelledDate", **OPTIONAL)
    description = fields.String(**OPTIONAL)  # neither stored nor shown; the body cap bounds it
    serial_number = fields.String(data_key="serialNumber", validate=NAME, **OPTIONAL)
    info = fields.Nested(_Info, data_key="_info", **OPTIONAL)

    @post_load
    def _to_record(self, data: dict[str, Any], **kwargs: Any) -> Addition:
        product = data.pop("product")
        info = data.pop("info") or {}
        who = info.get("updated_by")
        return Addition(
            updated_by=who[:255] if who else None,
            updated_at=info.get("last_updated"),
            product_id=product["id"],
            product_identifier=product["identifier"],
            quantity=data.pop("quantity") or 0.0,
            bill_customer=data.pop("bill_customer") or "Billable",
            **data,
        )


class AgreementSchema(_Base):
    """GET agreement -> Agreement."""

    id = fields.Integer(required=True)
    name = fields.String(required=True, validate=NAME)
    company = fields.Nested(_Ref, required=True)
    agreement_status = fields.String(data_key="agreementStatus", validate=SHORT, **OPTIONAL)
    cancelled_flag = fields.Boolean(data_key="cancelledFlag", **OPTIONAL)
    end_date = UtcDateTime(data_key="endDate", **OPTIONAL)
    no_ending_date_flag = fields.Boolean(data_key="noEndingDateFlag", **OPTIONAL)
    type = fields.Nested(_Ref, **OPTIONAL)
    bill_start_date = UtcDateTime(data_key="billStartDate", **OPTIONAL)
    next_invoice_date = UtcDateTime(data_key="nextInvoiceDate", **OPTIONAL)
    prorate_flag = fields.Boolean(data_key="prorateFlag", **OPTIONAL)
    start_date = UtcDateTime(data_key="startDate", **OPTIONAL)
    billing_cycle = fields.Nested(_Ref, data_key="billingCycle", **OPTIONAL)
    internal_notes = fields.String(data_key="internalNotes", **OPTIONAL)  # the body cap bounds it

    @post_load
    def _to_record(self, data: dict[str, Any], **kwargs: Any) -> Agreement:
        company, agreement_type = data.pop("company"), data.pop("type")
        invoice, cycle = data.pop("next_invoice_date"), data.pop("billing_cycle")
        return Agreement(
            billing_cycle=cycle["name"] if cycle else None,
            next_invoice_date=invoice.date() if invoice else None,
            company_id=company["id"],
            company_name=company["name"],
            cancelled_flag=bool(data.pop("cancelled_flag")),
            no_ending_date_flag=bool(data.pop("no_ending_date_flag")),
            type_name=agreement_type["name"] if agreement_type else None,
            **data,
        )


class CompanySchema(_Base):
    """GET company -> CwCompany."""

    id = fields.Integer(required=True)
    identifier = fields.String(required=True, validate=NAME)
    name = fields.String(required=True, validate=NAME)
    deleted_flag = fields.Boolean(data_key="deletedFlag", **OPTIONAL)
    status = fields.Nested(_Ref, **OPTIONAL)

    @post_load
    def _to_record(self, data: dict[str, Any], **kwargs: Any) -> CwCompany:
        status = data["status"]
        return CwCompany(
            id=data["id"],
            identifier=data["identifier"],
            name=data["name"],
            deleted=bool(data["deleted_flag"]),
            status_name=status["name"] if status else None,
        )


class CatalogItemSchema(_Base):
    """GET catalog item -> CatalogItem."""

    id = fields.Integer(required=True)
    identifier = fields.String(required=True, validate=NAME)
    description = fields.String(validate=NAME, **OPTIONAL)
    inactive_flag = fields.Boolean(data_key="inactiveFlag", **OPTIONAL)
    product_class = fields.String(data_key="productClass", validate=SHORT, **OPTIONAL)

    @post_load
    def _to_record(self, data: dict[str, Any], **kwargs: Any) -> CatalogItem:
        return CatalogItem(
            id=data["id"],
            identifier=data["identifier"],
            description=data["description"],
            inactive=bool(data["inactive_flag"]),
            product_class=data["product_class"],
        )


class SystemInfoSchema(_Base):
    """GET /system/info -> SystemInfo."""

    version = fields.String(required=True, validate=VERSION)
    is_cloud = fields.Boolean(data_key="isCloud", **OPTIONAL)
    server_time_zone = fields.String(data_key="serverTimeZone", validate=SHORT, **OPTIONAL)

    @post_load
    def _to_record(self, data: dict[str, Any], **kwargs: Any) -> SystemInfo:
        return SystemInfo(**data)


class NewAdditionSchema(Schema):
    """Body of `POST /finance/agreements/{id}/additions`; unset fields are omitted."""

    product_id = fields.Function(lambda obj: {"id": obj["product_id"]}, data_key="product")
    quantity = fields.Integer()
    bill_customer = fields.String(data_key="billCustomer")
    effective_date = UtcDateTime(data_key="effectiveDate")
    description = fields.String()
    serial_number = fields.String(data_key="serialNumber")

    @post_dump
    def _omit_unset(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {key: value for key, value in data.items() if value not in (None, "")}


def new_addition_body(
    *,
    product_id: int,
    quantity: int,
    effective_date: datetime,
    description: str | None,
    marker: str | None = None,
    bill_customer: str = "Billable",
) -> dict[str, Any]:
    """The JSON body that creates an addition (quantity sent as an integer, never lessIncluded)."""
    return NewAdditionSchema().dump(
        {
            "product_id": product_id,
            "quantity": quantity,
            "bill_customer": bill_customer,
            "effective_date": effective_date,
            "description": description,
            "serial_number": marker,
        }
    )


@functools.cache
def shared(schema_class: type[Schema]) -> Schema:
    """One instance per schema class: building a schema deep-copies its fields, loading does not."""
    return schema_class()


def load_record(schema: Schema, payload: Any) -> Any:
    """A record from a payload; an unexpected shape (or an over-long string) is a
    ConnectWiseError naming the record, not a crash or a truncated value."""
    try:
        return schema.load(payload)
    except SchemaError as exc:
        name = type(schema).__name__.removesuffix("Schema")
        record_id = payload.get("id") if isinstance(payload, dict) else None
        which = f" (id {record_id})" if isinstance(record_id, int) else ""
        raise ConnectWiseError(
            f"ConnectWise sent an unexpected {name}{which}: {exc.messages}",
            advice="ConnectWise sent a record billing-sync cannot use (see the message); "
            "correct it in ConnectWise, or check that the site is the ConnectWise API.",
        ) from None


def load_addition(payload: Any, agreement_id: int) -> Addition:
    """An Addition from a payload, taking the agreement id from the URL when CW omits it."""
    if isinstance(payload, dict) and payload.get("agreementId") is None:
        payload = {**payload, "agreementId": agreement_id}  # the path names it; CW may not
    return load_record(shared(AdditionSchema), payload)

"""Marshmallow schemas: ConnectWise JSON in, frozen records out; the POST body out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from billing_sync.connectwise.errors import ConnectWiseError
from billing_sync.connectwise.records import Addition, Agreement, CatalogItem, CwCompany
from billing_sync.connectwise.schemas import (
    AdditionSchema,
    AgreementSchema,
    CatalogItemSchema,
    CompanySchema,
    SystemInfoSchema,
    load_addition,
    new_addition_body,
)
from tests.support.cw_openapi import check_request, check_response

JAN_1 = datetime(2026, 1, 1, tzinfo=UTC)

ADDITION = {
    "id": 501,
    "product": {"id": 77, "identifier": "PB-BUS", "_info": {"product_href": "x"}},
    "quantity": 17.0,
    "billCustomer": "Billable",
    "effectiveDate": "2026-01-01T00:00:00Z",
    "cancelledDate": "2026-03-01T00:00:00Z",
    "agreementId": 9,
    "description": "Password Boss Business users",
    "unitPrice": 3.5,
    "_info": {"lastUpdated": "2026-01-02T10:00:00Z"},
}


def test_addition_loads_to_a_record_ignoring_unknown_fields():
    check_response("GET", "/finance/agreements/{parentId}/additions/{id}", 200, ADDITION)
    assert AdditionSchema().load(ADDITION) == Addition(
        id=501,
        agreement_id=9,
        product_id=77,
        product_identifier="PB-BUS",
        quantity=17.0,
        bill_customer="Billable",
        effective_date=JAN_1,
        cancelled_date=datetime(2026, 3, 1, tzinfo=UTC),
        description="Password Boss Business users",
        updated_at=datetime(2026, 1, 2, 10, tzinfo=UTC),  # from `_info`, for drift
    )


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("2026-01-01T00:00:00Z", JAN_1),
        ("2026-01-01T01:00:00+01:00", JAN_1),
        ("2026-01-01T00:00:00", JAN_1),  # CW means UTC even without the Z
    ],
)
def test_datetimes_load_as_aware_utc(raw, parsed):
    loaded = AdditionSchema().load({**ADDITION, "effectiveDate": raw})
    assert loaded.effective_date == parsed
    assert loaded.effective_date.utcoffset() == timedelta(0)


def test_addition_nulls_and_omissions_get_safe_defaults():
    loaded = load_addition({"id": 1, "product": {"id": 2}, "quantity": None}, agreement_id=9)
    assert (loaded.agreement_id, loaded.quantity, loaded.cancelled_date) == (9, 0.0, None)
    assert loaded.bill_customer == "Billable"


def test_agreement_loads_company_type_and_flags():
    payload = {
        "id": 9,
        "name": "Managed services",
        "company": {"id": 250, "identifier": "Acme", "name": "Acme Ltd"},
        "contact": {"id": 1},
        "type": {"id": 3, "name": "MSP"},
        "agreementStatus": "Active",
        "cancelledFlag": None,
        "noEndingDateFlag": True,
        "endDate": "2027-12-31T00:00:00Z",
    }
    check_response("GET", "/finance/agreements/{id}", 200, payload)
    assert AgreementSchema().load(payload) == Agreement(
        id=9,
        name="Managed services",
        company_id=250,
        company_name="Acme Ltd",
        agreement_status="Active",
        cancelled_flag=False,
        end_date=datetime(2027, 12, 31, tzinfo=UTC),
        no_ending_date_flag=True,
        type_name="MSP",
    )


def test_company_and_catalog_item_load():
    company = {
        "id": 250,
        "identifier": "Acme",
        "name": "Acme Ltd",
        "deletedFlag": True,
        "status": {"id": 1, "name": "Active"},
    }
    item = {
        "id": 77,
        "identifier": "PB-BUS",
        "description": "Password Boss Business",
        "subcategory": {"id": 1},
        "type": {"id": 1},
        "customerDescription": "PB",
        "inactiveFlag": False,
    }
    check_response("GET", "/company/companies/{id}", 200, company)
    check_response("GET", "/procurement/catalog/{id}", 200, item)
    assert CompanySchema().load(company) == CwCompany(250, "Acme", "Acme Ltd", True, "Active")
    assert CatalogItemSchema().load(item) == CatalogItem(
        77, "PB-BUS", "Password Boss Business", False
    )


def test_system_info_loads():
    info = SystemInfoSchema().load(
        {
            "version": "v2025.8.12345",
            "isCloud": True,
            "serverTimeZone": "Eastern Standard Time",
            "licenseBits": [],
        }
    )
    assert (info.version, info.is_cloud, info.server_time_zone) == (
        "v2025.8.12345",
        True,
        "Eastern Standard Time",
    )


def test_an_unexpected_shape_is_a_connectwise_error():
    with pytest.raises(ConnectWiseError, match="unexpected Addition"):
        load_addition({"id": "x"}, agreement_id=9)


def test_new_addition_body_is_exact_and_valid():
    body = new_addition_body(
        product_id=77,
        quantity=17,
        description="Password Boss Business users",
        effective_date=datetime(2026, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=1))),
    )
    assert body == {
        "product": {"id": 77},
        "quantity": 17,
        "billCustomer": "Billable",
        "effectiveDate": "2026-01-01T00:00:00Z",
        "description": "Password Boss Business users",
    }
    assert isinstance(body["quantity"], int)
    check_request("POST", "https://x/v4_6_release/apis/3.0/finance/agreements/9/additions", body)


@pytest.mark.parametrize("description", [None, ""])
def test_new_addition_body_omits_unset_fields(description):
    body = new_addition_body(
        product_id=77, quantity=0, effective_date=JAN_1, description=description
    )
    assert body == {
        "product": {"id": 77},
        "quantity": 0,
        "billCustomer": "Billable",
        "effectiveDate": "2026-01-01T00:00:00Z",
    }

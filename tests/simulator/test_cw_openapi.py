"""The OpenAPI subset checker accepts what ConnectWise allows and names what it does not."""

from __future__ import annotations

import pytest

from tests.support.cw_openapi import api_path, check_request, check_response, match_template

BASE = "http://127.0.0.1:8123/v4_6_release/apis/3.0"
ADDITION = {
    "id": 7,
    "product": {"id": 3, "identifier": "PB-BUS"},
    "quantity": 5.0,
    "billCustomer": "Billable",
    "effectiveDate": "2026-01-01T00:00:00Z",
    "agreementId": 2,
    "_info": {"lastUpdated": "2026-01-01T00:00:00Z"},
}


@pytest.mark.parametrize(
    ("url", "template", "params"),
    [
        (f"{BASE}/system/info", "/system/info", {}),
        (f"{BASE}/company/companies/count", "/company/companies/count", {}),
        (f"{BASE}/company/companies/12", "/company/companies/{id}", {"id": "12"}),
        ("/v2025_1/apis/3.0/procurement/catalog?page=2", "/procurement/catalog", {}),
        (
            f"{BASE}/finance/agreements/4/additions/count",
            "/finance/agreements/{parentId}/additions/count",
            {"parentId": "4"},
        ),
        (
            f"{BASE}/finance/agreements/4/additions/9",
            "/finance/agreements/{parentId}/additions/{id}",
            {"parentId": "4", "id": "9"},
        ),
    ],
)
def test_match_template_prefers_literal_segments(url, template, params):
    assert match_template(url) == (template, params)


def test_api_path_strips_site_and_codebase():
    assert api_path(f"{BASE}/finance/agreements?page=1") == "/finance/agreements"


def test_unknown_path_is_rejected():
    with pytest.raises(AssertionError, match="no path"):
        check_request("GET", f"{BASE}/service/tickets")


def test_request_with_declared_query_parameters_passes():
    query = "conditions=cancelledDate%3Dnull&page=2&pageSize=1000&orderBy=id%20asc"
    url = f"{BASE}/finance/agreements/4/additions?{query}"
    check_request("GET", url)


def test_undeclared_query_parameter_is_named():
    with pytest.raises(AssertionError, match="'limit' is not declared"):
        check_request("GET", f"{BASE}/company/companies?limit=10")


def test_non_integer_page_is_rejected():
    with pytest.raises(AssertionError, match="'page' must be an integer"):
        check_request("GET", f"{BASE}/company/companies?page=two")


def test_method_not_in_spec_is_rejected():
    with pytest.raises(AssertionError, match="POST /system/info is not in the spec"):
        check_request("POST", f"{BASE}/system/info", {})


def test_post_addition_body_is_validated():
    body = {"product": {"id": 3}, "quantity": 5, "billCustomer": "Billable"}
    check_request("POST", f"{BASE}/finance/agreements/4/additions", body)
    with pytest.raises(AssertionError, match="'billCustomer' is a required property"):
        check_request("POST", f"{BASE}/finance/agreements/4/additions", {"product": {"id": 3}})
    with pytest.raises(AssertionError, match="is not one of"):
        check_request(
            "POST",
            f"{BASE}/finance/agreements/4/additions",
            {"product": {"id": 3}, "billCustomer": "Free"},
        )


def test_patch_body_must_be_a_list_of_operations_with_any_value():
    url = f"{BASE}/finance/agreements/4/additions/9"
    check_request("PATCH", url, [{"op": "replace", "path": "quantity", "value": 17}])
    with pytest.raises(AssertionError, match="is not of type 'array'"):
        check_request("PATCH", url, {"op": "replace", "path": "quantity", "value": 17})


def test_get_with_a_body_and_post_without_one_are_rejected():
    with pytest.raises(AssertionError, match="takes no request body"):
        check_request("GET", f"{BASE}/system/info", {"x": 1})
    with pytest.raises(AssertionError, match="is required"):
        check_request("POST", f"{BASE}/finance/agreements/4/additions")


def test_list_response_is_an_array_of_the_item_schema():
    check_response("GET", f"{BASE}/finance/agreements/4/additions", 200, [ADDITION])
    with pytest.raises(AssertionError, match="is not of type 'array'"):
        check_response("GET", "/finance/agreements/{parentId}/additions", 200, ADDITION)


def test_response_fields_are_type_checked():
    bad = {**ADDITION, "effectiveDate": "yesterday"}
    with pytest.raises(AssertionError, match="date-time"):
        check_response("GET", f"{BASE}/finance/agreements/4/additions/7", 200, bad)
    with pytest.raises(AssertionError, match="cancelledDate"):
        check_response(
            "POST",
            f"{BASE}/finance/agreements/4/additions",
            201,
            {**ADDITION, "cancelledDate": None},
        )


def test_count_info_and_no_content_responses():
    check_response("GET", f"{BASE}/procurement/catalog/count", 200, {"count": 3})
    check_response("GET", f"{BASE}/system/info", 200, {"version": "v2025.8", "isCloud": False})
    check_response("DELETE", f"{BASE}/procurement/catalog/3", 204, None)
    with pytest.raises(AssertionError, match="must have no body"):
        check_response("DELETE", f"{BASE}/procurement/catalog/3", 204, {"id": 3})


def test_undeclared_status_is_rejected():
    with pytest.raises(AssertionError, match="status not declared"):
        check_response("GET", f"{BASE}/system/info", 201, {})


def test_error_responses_validate_against_error_response_message():
    body = {
        "code": "InvalidObject",
        "message": "addition object is invalid",
        "errors": [
            {"code": "NullValue", "message": "x", "resource": "addition", "field": "product"}
        ],
    }
    check_response("POST", f"{BASE}/finance/agreements/4/additions", 400, body)
    with pytest.raises(AssertionError, match="is not of type 'string'"):
        check_response("GET", f"{BASE}/system/info", 401, {"code": 401})

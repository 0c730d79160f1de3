"""The simulator over real HTTP: auth, discovery, lists, CRUD and errors, all spec-checked."""

from __future__ import annotations

import time

import requests

from tests.simulator.conftest import CLIENT_ID
from tests.support.cw_openapi import check_response

ADDITIONS = "/finance/agreements/1/additions"


def test_companyinfo_needs_no_auth_and_names_the_codebase(simulator):
    body = requests.get(f"{simulator.site}/login/companyinfo/TRAINING", timeout=5).json()
    assert body["Codebase"] == "v4_6_release/"
    assert body["VersionCode"] == "v2025.8"
    assert body["CompanyID"] == "training"
    assert body["IsCloud"] is False


def test_companyinfo_of_an_unknown_company_is_null(simulator):
    response = requests.get(f"{simulator.site}/login/companyinfo/nobody", timeout=5)
    assert response.status_code == 200
    assert response.text == "null"


def test_system_info_with_good_credentials(api):
    assert api("GET", "/system/info").json()["version"] == "v2025.8"


def test_wrong_private_key_is_401_in_cw_format(api):
    api.session.auth = ("training+pubkey", "wrong")
    response = api("GET", "/system/info")
    assert response.status_code == 401
    assert response.json()["code"] == "Unauthorized"
    assert response.json()["errors"][0]["code"] == "Unauthorized"


def test_wrong_company_id_is_401(api):
    api.session.auth = ("other+pubkey", "privkey")
    assert api("GET", "/system/info").status_code == 401


def test_missing_client_id_is_401(api):
    del api.session.headers["clientId"]
    response = api("GET", "/company/companies")
    assert response.status_code == 401
    assert "clientId" in response.json()["message"]


def test_forbidden_operation_is_403(api, state):
    state.forbidden.add("POST /finance/agreements/{parentId}/additions")
    body = {"product": {"id": 1}, "billCustomer": "Billable"}
    response = api("POST", ADDITIONS, json=body)
    assert (response.status_code, response.json()["code"]) == (403, "Forbidden")
    assert api("GET", ADDITIONS).status_code == 200


def test_unknown_codebase_is_404(simulator):
    url = f"{simulator.site}/v2019_1/apis/3.0/system/info"
    response = requests.get(url, auth=("training+pubkey", "privkey"), timeout=5)
    assert response.status_code == 404
    check_response("GET", "/system/info", 404, response.json())


def test_unknown_api_path_is_404_and_wrong_method_405(api):
    assert api("GET", "/service/tickets", spec_request=False).status_code == 404
    response = api("POST", "/system/info", json={}, spec_request=False)
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET"


def test_pagination_follows_link_across_three_pages(api, state):
    for n in range(5):
        state.add_company(name=f"Extra {n}")  # 7 companies, pageSize 3 -> 3 pages
    seen, url, pages = [], "/company/companies?pageSize=3&orderBy=id%20asc", 0
    while url:
        response = api("GET", url)
        pages += 1
        seen += [c["id"] for c in response.json()]
        url = response.links.get("next", {}).get("url")
        if pages == 1:
            assert "first" not in response.links
            assert response.links["last"]["url"].endswith("page=3")
    assert pages == 3
    assert seen == list(range(1, 8))
    assert "next" not in response.links
    assert response.links["first"]["url"].endswith("page=1")
    assert "orderBy=id%20asc" in response.links["prev"]["url"]


def test_page_size_defaults_to_25_and_clamps_to_1000(api, state):
    for n in range(30):
        state.add_company(name=f"Bulk {n}")
    assert len(api("GET", "/company/companies").json()) == 25
    response = api("GET", "/company/companies", params={"pageSize": 5000})
    assert len(response.json()) == 32
    assert "next" not in response.links


def test_single_page_has_no_link_header(api):
    assert "Link" not in api("GET", "/procurement/catalog").headers


def test_conditions_filter_lists_and_counts(api):
    condition = "cancelledDate=null or cancelledDate>[2026-01-01T00:00:00Z]"
    active = api("GET", ADDITIONS, params={"conditions": condition}).json()
    assert [a["id"] for a in active] == [1]
    count = api("GET", f"{ADDITIONS}/count", params={"conditions": condition}).json()
    assert count == {"count": 1}
    agreements = api("GET", "/finance/agreements", params={"conditions": "company/id=2"}).json()
    assert [a["name"] for a in agreements] == ["Globex MSA", "Old"]
    query = {"conditions": 'type/name="Block Time" and agreementStatus="Active"'}
    assert [a["id"] for a in api("GET", "/finance/agreements", params=query).json()] == [2]


def test_bad_condition_is_400_naming_the_problem(api):
    response = api("GET", "/company/companies", params={"conditions": 'name="open'})
    assert response.status_code == 400
    assert response.json()["code"] == "InvalidObject"
    assert "unterminated string" in response.json()["message"]
    response = api("GET", "/company/companies", params={"conditions": "nme=1"})
    assert "unknown field 'nme'" in response.json()["message"]


def test_order_by_and_fields(api):
    query = {"orderBy": "id desc", "fields": "id,identifier,name,status/name"}
    assert api("GET", "/company/companies", params=query).json() == [
        {"id": 2, "identifier": "GLOBEX", "name": "Globex", "status": {"name": "Inactive"}},
        {"id": 1, "identifier": "AcmeCorp", "name": "Acme Corp", "status": {"name": "Active"}},
    ]
    assert api("GET", "/company/companies", params={"orderBy": "id sideways"}).status_code == 400


def test_records_use_cw_references_and_dates(api):
    agreement = api("GET", "/finance/agreements/2").json()
    assert agreement["company"] == {"id": 2, "identifier": "GLOBEX", "name": "Globex"}
    assert agreement["type"]["name"] == "Block Time"
    addition = api("GET", f"{ADDITIONS}/1").json()
    assert addition["product"] == {"id": 1, "identifier": "PB-BUS"}
    assert addition["effectiveDate"] == "2026-01-01T00:00:00Z"
    assert "cancelledDate" not in addition  # CW omits nulls
    assert api("GET", "/company/companies/2").json()["status"]["name"] == "Inactive"


def test_addition_of_another_agreement_is_404(api):
    assert api("GET", f"{ADDITIONS}/3").status_code == 404
    assert api("GET", "/finance/agreements/99/additions").status_code == 404


def test_post_addition_returns_201_with_the_full_addition(api, state):
    body = {
        "product": {"id": 2},
        "quantity": 17,
        "billCustomer": "Billable",
        "effectiveDate": "2026-02-01T00:00:00Z",
        "description": "Password Boss Pro (billing-sync)",
    }
    response = api("POST", ADDITIONS, json=body)
    assert response.status_code == 201
    created = response.json()
    assert created["id"] == 4
    assert created["agreementId"] == 1
    assert created["quantity"] == 17.0
    assert created["product"] == {"id": 2, "identifier": "PB-PRO"}
    assert created["extPrice"] == 51.0
    assert state.additions(1)[-1] == created


def test_post_addition_missing_fields_is_400_per_field(api, state):
    response = api("POST", ADDITIONS, json={"quantity": 1}, spec_request=False)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [(e["code"], e["field"], e["resource"]) for e in errors] == [
        ("NullValue", "product", "agreementAddition"),
        ("NullValue", "billCustomer", "agreementAddition"),
    ]
    assert len(state.additions(1)) == 2


def test_post_addition_bad_values_are_400(api):
    bad = {"product": {"id": 99}, "billCustomer": "Free", "quantity": "five"}
    response = api("POST", ADDITIONS, json=bad, spec_request=False)
    assert {e["field"] for e in response.json()["errors"]} == {
        "product",
        "billCustomer",
        "quantity",
    }


def test_post_addition_to_unknown_agreement_is_404(api):
    body = {"product": {"id": 1}, "billCustomer": "Billable"}
    assert api("POST", "/finance/agreements/42/additions", json=body).status_code == 404


def test_invalid_json_body_is_400(api):
    response = api("POST", ADDITIONS, data="{nope", spec_request=False,
                   headers={"Content-Type": "application/json"})  # fmt: skip
    assert response.status_code == 400


def test_patch_replaces_quantity(api, state):
    response = api("PATCH", f"{ADDITIONS}/1", json=[
        {"op": "replace", "path": "quantity", "value": 12}])  # fmt: skip
    assert response.status_code == 200
    assert response.json()["quantity"] == 12.0
    assert state.additions(1)[0]["quantity"] == 12.0
    slash = api(
        "PATCH", f"{ADDITIONS}/1", json=[{"op": "replace", "path": "/quantity", "value": 3}]
    )
    assert slash.json()["quantity"] == 3.0


def test_patch_must_be_an_array_of_known_fields(api):
    url = f"{ADDITIONS}/1"
    not_array = api("PATCH", url, json={"op": "replace", "path": "quantity", "value": 1},
                    spec_request=False)  # fmt: skip
    assert not_array.status_code == 400
    unknown = api("PATCH", url, json=[{"op": "replace", "path": "quantitty", "value": 1}])
    assert unknown.status_code == 400
    assert "quantitty" in unknown.json()["message"]
    read_only = api("PATCH", url, json=[{"op": "replace", "path": "id", "value": 9}])
    assert read_only.status_code == 400
    wrong_type = api("PATCH", url, json=[{"op": "replace", "path": "quantity", "value": "x"}])
    assert wrong_type.json()["errors"][0]["field"] == "quantity"


def test_put_replaces_and_delete_removes(api, state):
    body = {"product": {"id": 1}, "billCustomer": "NoCharge", "quantity": 1}
    replaced = api("PUT", f"{ADDITIONS}/1", json=body).json()
    assert (replaced["id"], replaced["billCustomer"], replaced["quantity"]) == (1, "NoCharge", 1.0)
    assert "effectiveDate" in replaced
    assert api("DELETE", f"{ADDITIONS}/1").status_code == 204
    assert [a["id"] for a in state.additions(1)] == [2]
    assert api("POST", ADDITIONS, json=body).json()["id"] == 4  # ids never reused
    assert api("DELETE", "/procurement/catalog/1").status_code == 409  # addition 3 uses it


def test_other_collections_support_crud(api):
    company = api("POST", "/company/companies", json={"identifier": "Hooli", "name": "Hooli"})
    assert company.status_code == 201
    agreement = {"name": "Hooli MSA", "type": {"name": "Managed Services"},
                 "company": {"id": company.json()["id"]}, "contact": {"id": 1}}  # fmt: skip
    assert api("POST", "/finance/agreements", json=agreement).status_code == 201
    item = {"identifier": "X", "description": "X", "subcategory": {"id": 1},
            "type": {"id": 1}, "customerDescription": "X"}  # fmt: skip
    assert api("POST", "/procurement/catalog", json=item).json()["id"] == 4
    patched = api("PATCH", "/procurement/catalog/4", json=[
        {"op": "replace", "path": "inactiveFlag", "value": True}])  # fmt: skip
    assert patched.json()["inactiveFlag"] is True
    no_identifier = api("POST", "/company/companies", json={"name": "x"}, spec_request=False)
    assert no_identifier.json()["errors"][0]["field"] == "identifier"


def test_logged_requests_record_query_body_and_status(api, state):
    state.clear_log()
    api("GET", ADDITIONS, params={"conditions": "id=1", "pageSize": 1000})
    api("PATCH", f"{ADDITIONS}/1", json=[{"op": "replace", "path": "quantity", "value": 6}])
    first, second = state.log
    assert first.query == {"conditions": ["id=1"], "pageSize": ["1000"]}
    assert first.path_template == "/finance/agreements/{parentId}/additions"
    assert first.headers["clientId"] == CLIENT_ID
    assert (second.method, second.status, second.body[0]["value"]) == ("PATCH", 200, 6)
    assert state.request_counts() == {"GET": 1, "PATCH": 1}


def test_control_endpoints(simulator, api, state):
    api("GET", "/system/info")
    stats = requests.get(f"{simulator.site}/__simulator/stats", timeout=5).json()
    assert stats["byMethod"] == {"GET": 1}
    assert stats["byPath"] == {"GET /system/info": 1}
    faults = requests.post(f"{simulator.site}/__simulator/faults",
                           json={"latency_seconds": 0.01, "seed": 3}, timeout=5)  # fmt: skip
    assert faults.json()["latency_seconds"] == 0.01
    assert state.faults.seed == 3
    bad = requests.post(f"{simulator.site}/__simulator/faults", json={"nope": 1}, timeout=5)
    assert bad.status_code == 400
    assert requests.post(f"{simulator.site}/__simulator/reset-log", timeout=5).status_code == 204
    assert state.log == []
    seed = requests.get(f"{simulator.site}/__simulator/seed", timeout=5).json()
    assert seed == state.to_seed()


def test_a_request_cut_off_mid_body_is_not_processed(simulator, state):
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(simulator.site)
    head = (
        f"POST /{state.codebase}apis/3.0/procurement/catalog HTTP/1.1\r\n"
        f"Host: {url.netloc}\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n"
    )
    with socket.create_connection((url.hostname, url.port), timeout=5) as conn:
        conn.sendall(head.encode() + b'{"identifier": "HALF')
    time.sleep(0.2)  # let the server notice the closed socket

    assert [e for e in state.log if e.method == "POST"] == []

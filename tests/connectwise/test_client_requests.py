"""The exact requests the client sends: paths, queries, bodies, headers, pages and codebase."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest
from responses import matchers

from billing_sync.connectwise.client import ConnectWiseClient
from billing_sync.connectwise.errors import ConnectWiseError, InvalidSite, NotFound
from tests.connectwise.conftest import BASE, CREDENTIALS, SITE, TIMEOUT, body, make_client, query

COMPANYINFO = f"{SITE}/login/companyinfo/acme"
ADDITION = {
    "id": 501,
    "product": {"id": 77, "identifier": "PB-BUS"},
    "quantity": 17.0,
    "billCustomer": "Billable",
    "effectiveDate": "2026-01-01T00:00:00Z",
    "agreementId": 9,
}


def company(n: int) -> dict:
    return {"id": n, "identifier": f"C{n}", "name": f"Company {n}", "deletedFlag": False}


def agreement(n: int, company_id: int = 250) -> dict:
    return {
        "id": n,
        "name": f"Agreement {n}",
        "company": {"id": company_id, "name": "Acme"},
        "agreementStatus": "Active",
        "cancelledFlag": False,
        "noEndingDateFlag": True,
    }


def test_every_call_carries_auth_client_id_accept_and_timeout(cw, client):
    cw.get(f"{BASE}/system/info", json={"version": "v2025.8.1", "isCloud": True})
    info = client.system_info()
    assert info.version == "v2025.8.1"
    [call] = cw.calls
    token = base64.b64encode(b"acme+pub-key:very-secret-private-key").decode()
    assert call.request.url == f"{BASE}/system/info"
    assert call.request.headers["Authorization"] == f"Basic {token}"
    assert call.request.headers["clientId"] == CREDENTIALS.client_id
    assert call.request.headers["Accept"] == "application/vnd.connectwise.com+json; version=2025.8"
    assert call.request.req_kwargs["timeout"] == TIMEOUT
    assert "Content-Type" not in call.request.headers  # no body, no content type


def test_codebase_is_discovered_once_without_credentials_and_cached(cw, monkeypatch):
    cw.get(
        COMPANYINFO, json={"CompanyName": "Acme", "Codebase": "v2025_1/", "VersionCode": "v2025.1"}
    )
    cw.get(f"{SITE}/v2025_1/apis/3.0/system/info", json={"version": "v2025.1"})
    with make_client(monkeypatch, codebase=None) as client:
        client.system_info()
        client.system_info()
        assert client.codebase == "v2025_1/"
    assert [c.request.url for c in cw.calls] == [
        COMPANYINFO,
        f"{SITE}/v2025_1/apis/3.0/system/info",
        f"{SITE}/v2025_1/apis/3.0/system/info",
    ]
    assert "Authorization" not in cw.calls[0].request.headers
    assert "clientId" not in cw.calls[0].request.headers


def test_unknown_company_id_is_an_invalid_site(cw, monkeypatch):
    cw.get(COMPANYINFO, body="null", content_type="application/json")
    with make_client(monkeypatch, codebase=None) as client, pytest.raises(InvalidSite) as caught:
        client.system_info()
    assert "unknown company id" in str(caught.value)
    assert len(cw.calls) == 1


def test_a_site_that_is_not_connectwise_is_an_invalid_site(cw, monkeypatch):
    cw.get(COMPANYINFO, body="<html>hello</html>", content_type="text/html")
    with make_client(monkeypatch, codebase=None) as client, pytest.raises(InvalidSite):
        _ = client.codebase


def test_codebase_is_refreshed_once_on_404_and_the_call_repeated(cw, client):
    cw.get(f"{BASE}/system/info", status=404, body="<html>Not Found</html>")
    cw.get(COMPANYINFO, json={"Codebase": "v2025_8/"})
    cw.get(f"{SITE}/v2025_8/apis/3.0/system/info", json={"version": "v2025.8"})
    assert client.system_info().version == "v2025.8"
    assert [c.request.url for c in cw.calls] == [
        f"{BASE}/system/info",
        COMPANYINFO,
        f"{SITE}/v2025_8/apis/3.0/system/info",
    ]
    assert client.codebase == "v2025_8/"


def test_a_404_with_the_same_codebase_is_not_repeated(cw, client):
    url = f"{BASE}/finance/agreements/9/additions/501"
    cw.patch(url, status=404, json={"code": "NotFound", "message": "Addition not found"})
    cw.get(COMPANYINFO, json={"Codebase": "v4_6_release/"})
    with pytest.raises(NotFound, match="Addition not found"):
        client.set_addition_quantity(9, 501, 3)
    assert [c.request.method for c in cw.calls] == ["PATCH", "GET"]


def test_pagination_fetches_every_page_and_yields_records(cw, client):
    listing = "conditions=deletedFlag%3Dfalse&orderBy=id%20asc&pageSize=1000"
    page = f"{BASE}/company/companies?{listing}&page="
    for n, next_page in [(1, 2), (2, 3), (3, None)]:
        headers = (
            {"Link": f'<{page}{next_page}>; rel="next", <{page}1>; rel="first"'}
            if next_page
            else {}
        )
        cw.get(
            f"{BASE}/company/companies",
            json=[company(n * 10 + i) for i in range(2)],
            headers=headers,
            match=[matchers.query_param_matcher({"page": str(n)}, strict_match=False)],
        )
    companies = list(client.companies("deletedFlag=false"))
    assert [c.id for c in companies] == [10, 11, 20, 21, 30, 31]
    assert [query(c) for c in cw.calls] == [
        {"conditions": "deletedFlag=false", "orderBy": "id asc", "page": str(n), "pageSize": "1000"}
        for n in (1, 2, 3)
    ]


def test_a_repeated_next_link_stops_the_loop(cw, client):
    url = f"{BASE}/procurement/catalog"
    loop = f'<{url}?pageSize=1000&page=2>; rel="next"'
    cw.get(url, json=[{"id": 1, "identifier": "A"}], headers={"Link": loop})
    with pytest.raises(ConnectWiseError, match="repeated the next-page link"):
        list(client.catalog_items())
    assert len(cw.calls) == 2  # page 1, page 2 (which links to itself), then stop


def test_a_next_link_to_another_host_stays_on_the_site(cw, client):
    url = f"{BASE}/procurement/catalog"
    elsewhere = (
        '<https://evil.example/v4_6_release/apis/3.0/procurement/catalog?page=2>; rel="next"'
    )
    cw.get(
        url,
        json=[{"id": 1, "identifier": "A"}],
        headers={"Link": elsewhere},
        match=[matchers.query_param_matcher({"page": "1"}, strict_match=False)],
    )
    cw.get(
        url,
        json=[{"id": 2, "identifier": "B"}],
        match=[matchers.query_param_matcher({"page": "2"})],
    )
    assert [i.id for i in client.catalog_items(include_inactive=True)] == [1, 2]
    assert cw.calls[1].request.url == f"{url}?page=2"


@pytest.mark.parametrize(
    ("include_inactive", "expected"),
    [
        (
            False,
            {
                "conditions": "inactiveFlag=false",
                "orderBy": "id asc",
                "page": "1",
                "pageSize": "1000",
            },
        ),
        (True, {"orderBy": "id asc", "page": "1", "pageSize": "1000"}),
    ],
)
def test_catalog_items_query(cw, client, include_inactive, expected):
    cw.get(f"{BASE}/procurement/catalog", json=[])
    assert list(client.catalog_items(include_inactive=include_inactive)) == []
    assert query(cw.calls[0]) == expected


def test_search_companies_escapes_the_text_and_skips_deleted(cw, client):
    cw.get(f"{BASE}/company/companies", json=[company(1)])
    found = client.search_companies('O"Brien \\ Sons', limit=25)
    assert [c.name for c in found] == ["Company 1"]
    assert query(cw.calls[0]) == {
        "conditions": 'name contains "O\\"Brien \\\\ Sons" and deletedFlag=false',
        "orderBy": "name asc",
        "page": "1",
        "pageSize": "25",
    }


def test_company_agreements_query(cw, client):
    cw.get(f"{BASE}/finance/agreements", json=[agreement(9), agreement(10)])
    assert [a.id for a in client.company_agreements(250)] == [9, 10]
    assert query(cw.calls[0]) == {
        "conditions": "company/id=250",
        "orderBy": "id asc",
        "page": "1",
        "pageSize": "1000",
    }


def test_agreements_by_ids_batches_100_ids_per_request(cw, client):
    cw.get(f"{BASE}/finance/agreements", json=[agreement(1), agreement(250)])
    found = client.agreements_by_ids(list(range(250, 0, -1)) + [5, 5])
    assert sorted(found) == [1, 250]
    conditions = [query(c)["conditions"] for c in cw.calls]
    assert conditions == [
        "id in (" + ",".join(str(i) for i in range(lo, hi)) + ")"
        for lo, hi in [(1, 101), (101, 201), (201, 251)]
    ]


def test_agreements_by_ids_with_no_ids_sends_nothing(cw, client):
    assert client.agreements_by_ids([]) == {}
    assert len(cw.calls) == 0


def test_agreement_additions_asks_for_active_ones_in_one_get(cw, client):
    cw.get(f"{BASE}/finance/agreements/9/additions", json=[ADDITION, {**ADDITION, "id": 502}])
    active_at = datetime(2026, 2, 1, 1, 0, tzinfo=timezone(timedelta(hours=1)))
    additions = client.agreement_additions(9, active_at=active_at)
    assert [(a.id, a.agreement_id, a.product_id, a.quantity) for a in additions] == [
        (501, 9, 77, 17.0),
        (502, 9, 77, 17.0),
    ]
    [call] = cw.calls
    assert query(call) == {
        "conditions": "cancelledDate=null or cancelledDate>[2026-02-01T00:00:00Z]",
        "orderBy": "id asc",
        "page": "1",
        "pageSize": "1000",
    }


def test_additions_of_another_agreement_or_cancelled_are_dropped_at_the_boundary(cw, client):
    foreign = {**ADDITION, "id": 502, "agreementId": 10}
    cancelled = {**ADDITION, "id": 503, "cancelledDate": "2026-01-15T00:00:00Z"}
    cw.get(f"{BASE}/finance/agreements/9/additions", json=[ADDITION, foreign, cancelled])

    additions = client.agreement_additions(9, active_at=datetime(2026, 2, 1, tzinfo=UTC))

    assert [a.id for a in additions] == [501]


def test_create_addition_posts_exactly_the_fields_it_sets(cw, client):
    cw.post(f"{BASE}/finance/agreements/9/additions", status=201, json=ADDITION)
    created = client.create_addition(
        9,
        product_id=77,
        quantity=17,
        description="PB users",
        effective_date=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert created.id == 501
    [call] = cw.calls
    assert body(call) == {
        "product": {"id": 77},
        "quantity": 17,
        "billCustomer": "Billable",
        "effectiveDate": "2026-01-01T00:00:00Z",
        "description": "PB users",
    }
    assert call.request.headers["Content-Type"] == "application/json"
    assert b'"quantity": 17,' in call.request.body  # an integer, not 17.0


def test_set_addition_quantity_patches_an_absolute_integer(cw, client):
    url = f"{BASE}/finance/agreements/9/additions/501"
    cw.patch(url, json={**ADDITION, "quantity": 3.0})
    updated = client.set_addition_quantity(9, 501, 3.0)
    assert updated.quantity == 3.0
    [call] = cw.calls
    assert call.request.url == url
    assert body(call) == [{"op": "replace", "path": "quantity", "value": 3}]
    assert b'"value": 3}' in call.request.body
    assert call.request.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.set_addition_quantity(9, 501, -1),
        lambda c: c.set_addition_quantity(9, 501, 2.5),
        lambda c: c.set_addition_quantity(9, 501, True),
        lambda c: c.set_addition_quantity("9/../x", 501, 1),
        lambda c: c.company_agreements(0),
        lambda c: c.search_companies("x", limit=1001),
    ],
)
def test_bad_arguments_are_refused_before_sending(cw, client, call):
    with pytest.raises(ValueError):
        call(client)
    assert len(cw.calls) == 0


def test_a_pinned_codebase_is_normalised(cw, monkeypatch):
    with make_client(monkeypatch, codebase="/v4_6_release") as client:
        assert client.codebase == "v4_6_release/"
    with pytest.raises(InvalidSite):
        make_client(monkeypatch, codebase="../admin")


def test_missing_credentials_are_refused(monkeypatch):
    from dataclasses import replace

    from billing_sync.connectwise.errors import AuthenticationError

    with pytest.raises(AuthenticationError, match="client_id"):
        ConnectWiseClient(replace(CREDENTIALS, client_id=""), allow_private_hosts=True)


def test_proxy_settings_are_read_from_the_environment_once(monkeypatch):
    from billing_sync.connectwise.transport import make_session

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "")
    session = make_session(
        site="https://na.myconnectwise.net",
        company_id="c",
        public_key="p",
        private_key="k",
        client_id="g",
        max_retries=1,
        backoff_factor=0,
        pool_size=1,
    )

    assert session.trust_env is False
    assert session.proxies["https"] == "http://proxy.example:3128"

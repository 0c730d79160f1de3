"""Listings end: a page cap, a stop between pages, and only the records that were asked for."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from billing_sync.connectwise import errors
from tests.security.hostile import agreement_row, answer_json, client_for_site, endless_pages

JAN_1 = datetime(2026, 1, 1, tzinfo=UTC)


def item(n: int, **overrides) -> dict:
    return {
        "id": n,
        "identifier": f"ITEM-{n}",
        "description": "",
        "inactiveFlag": False,
        **overrides,
    }


def test_endless_distinct_next_links_stop_at_the_page_cap(hostile):
    server = hostile(endless_pages(lambda handler: [item(1)]))

    with (
        client_for_site(server.site) as client,
        pytest.raises(errors.TooManyPages) as caught,
    ):
        list(client.catalog_items())

    assert "GET /procurement/catalog" in str(caught.value)
    assert "more than 50 pages (50,000 records, BILLING_SYNC_CW_MAX_PAGES)" in str(caught.value)
    assert isinstance(caught.value, errors.ConfigurationError)
    assert len(server.api_requests()) == 50
    print(f"endless pagination: {len(server.api_requests())} requests, then TooManyPages")


def test_the_page_cap_is_a_setting_of_the_client(hostile):
    server = hostile(endless_pages())

    with (
        client_for_site(server.site, max_pages=3) as client,
        pytest.raises(errors.TooManyPages, match="more than 3 pages"),
    ):
        client.agreement_additions(9, active_at=JAN_1)

    assert len(server.api_requests()) == 3


def test_a_listing_stops_between_pages_when_asked(hostile):
    stop = threading.Event()

    def rows(handler):
        if int(handler.query()["page"]) == 5:
            stop.set()  # e.g. SIGTERM arrives while page 5 is on its way
        return []

    server = hostile(endless_pages(rows))
    with (
        client_for_site(server.site, max_pages=10_000, stop=stop.is_set) as client,
        pytest.raises(errors.Interrupted, match="stopped after page 5"),
    ):
        client.agreements_by_ids([1, 2])

    assert len(server.api_requests()) == 5


def test_agreements_by_ids_keeps_only_the_ids_asked_for(hostile):
    server = hostile(answer_json([agreement_row(1, 10), agreement_row(666, 10)]))

    with client_for_site(server.site) as client:
        assert list(client.agreements_by_ids([1, 2])) == [1]


def test_a_company_s_agreements_are_only_that_company_s(hostile):
    server = hostile(answer_json([agreement_row(1, 10), agreement_row(2, 99)]))

    with client_for_site(server.site) as client:
        assert [a.id for a in client.company_agreements(10)] == [1]
        assert [a.id for a in client.agreements_of_companies([10, 11])] == [1]


def test_a_company_search_drops_deleted_companies(hostile):
    company = {"id": 1, "identifier": "Acme", "name": "Acme", "deletedFlag": False}
    server = hostile(answer_json([company, {**company, "id": 2, "deletedFlag": True}]))

    with client_for_site(server.site) as client:
        assert [c.id for c in client.search_companies("Acme")] == [1]


def test_an_active_catalog_drops_inactive_items(hostile):
    server = hostile(answer_json([item(1), item(2, inactiveFlag=True)]))

    with client_for_site(server.site) as client:
        assert [i.id for i in client.catalog_items()] == [1]


def test_one_catalog_item_must_be_the_one_asked_for(hostile):
    server = hostile(answer_json(item(1)))

    with (
        client_for_site(server.site) as client,
        pytest.raises(errors.NotFound, match="answered with catalog item 1"),
    ):
        client.catalog_item(5)


def test_additions_of_another_agreement_are_still_dropped(hostile):
    addition = {"id": 5, "agreementId": 9, "product": {"id": 77}, "quantity": 3.0}
    server = hostile(answer_json([addition, {**addition, "id": 6, "agreementId": 10}]))

    with client_for_site(server.site) as client:
        assert [a.id for a in client.agreement_additions(9, active_at=JAN_1)] == [5]

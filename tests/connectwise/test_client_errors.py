"""Error mapping, retries as seen through `responses`, and secrets kept out of logs."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
import requests

from billing_sync.connectwise import errors
from tests.connectwise.conftest import BASE, CREDENTIALS, SITE

ADDITIONS = f"{BASE}/finance/agreements/9/additions"
COMPANYINFO = f"{SITE}/login/companyinfo/acme"
ADDITION = {"id": 501, "product": {"id": 77}, "quantity": 4.0, "billCustomer": "Billable"}
JAN_1 = datetime(2026, 1, 1, tzinfo=UTC)


def create(client):
    return client.create_addition(
        9, product_id=77, quantity=4, effective_date=JAN_1, description="PB users"
    )


@pytest.mark.parametrize(
    ("status", "url", "error", "in_message", "in_advice"),
    [
        (
            401,
            f"{BASE}/system/info",
            errors.AuthenticationError,
            "credentials refused",
            "public/private key",
        ),
        (403, f"{BASE}/system/info", errors.PermissionDenied, "permission denied", "security role"),
        (
            404,
            f"{BASE}/system/info",
            errors.AuthenticationError,
            "on cloud, bad credentials come back as 404: check company id / keys / site",
            "company id",
        ),
        (404, f"{BASE}/finance/agreements?x", errors.NotFound, "not found", "re-map"),
        (409, f"{BASE}/system/info", errors.ConnectWiseError, "Conflict", "ledger"),
        (302, f"{BASE}/system/info", errors.InvalidSite, "redirected", "redirects to"),
    ],
)
def test_statuses_map_to_errors_with_advice(cw, client, status, url, error, in_message, in_advice):
    cw.get(COMPANYINFO, json={"Codebase": "v4_6_release/"})  # a 404 re-checks the codebase
    cw.get(
        url.split("?")[0],
        status=status,
        headers={"Location": "https://elsewhere/"},
        json={"code": "Conflict" if status == 409 else "X", "message": "Conflict"},
    )
    with pytest.raises(error) as caught:
        if "agreements" in url:
            client.company_agreements(250)
        else:
            client.system_info()
    assert type(caught.value) is error
    assert in_message in str(caught.value)
    assert in_advice in caught.value.advice
    assert caught.value.status == status
    assert caught.value.response.status_code == status
    assert all(c.request.url != "https://elsewhere/" for c in cw.calls)  # redirects not followed


def test_400_carries_connectwise_message_and_field_errors(cw, client):
    cw.post(
        ADDITIONS,
        status=400,
        json={
            "code": "InvalidObject",
            "message": "addition object is invalid",
            "errors": [
                {
                    "code": "InvalidField",
                    "message": "The product is inactive.",
                    "resource": "addition",
                    "field": "product",
                }
            ],
        },
    )
    with pytest.raises(errors.ValidationFailed) as caught:
        create(client)
    assert "addition object is invalid" in str(caught.value)
    assert "product: The product is inactive." in str(caught.value)
    assert caught.value.field_errors == ("product: The product is inactive.",)
    assert "mapped product" in caught.value.advice


def test_get_is_retried_on_429_then_succeeds(cw, client):
    cw.get(ADDITIONS, status=429, headers={"Retry-After": "0"})
    cw.get(ADDITIONS, status=429, headers={"Retry-After": "0"})
    cw.get(ADDITIONS, json=[ADDITION])
    assert [a.id for a in client.agreement_additions(9, active_at=JAN_1)] == [501]
    assert len(cw.calls) == 3


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (429, errors.RateLimited),
        (500, errors.ServerError),
        (502, errors.ServerError),
        (503, errors.ServerError),
        (504, errors.ServerError),
    ],
)
def test_get_gives_up_after_max_retries(cw, client, status, error):
    cw.get(ADDITIONS, status=status, json={"code": "x", "message": "busy"})
    with pytest.raises(error) as caught:
        client.agreement_additions(9, active_at=JAN_1)
    assert len(cw.calls) == 3  # first try + max_retries=2
    assert isinstance(caught.value, errors.TransientError)
    assert "retries automatically" in caught.value.advice


def test_patch_is_sent_once_the_engine_repeats_it_inside_its_write_window(cw, client):
    url = f"{ADDITIONS}/501"
    cw.patch(url, status=503)
    cw.patch(url, json=ADDITION)
    with pytest.raises(errors.ServerError):
        client.set_addition_quantity(9, 501, 4)
    assert len(cw.calls) == 1


@pytest.mark.parametrize(
    ("status", "error"),
    [(503, errors.ServerError), (429, errors.RateLimited), (500, errors.ServerError)],
)
def test_post_is_never_retried_on_a_status(cw, client, status, error):
    cw.post(ADDITIONS, status=status, headers={"Retry-After": "0"})
    cw.post(ADDITIONS, status=201, json=ADDITION)
    with pytest.raises(error):
        create(client)
    assert len(cw.calls) == 1


def test_a_post_without_an_answer_is_write_outcome_unknown(cw, client):
    cw.post(ADDITIONS, body=requests.ConnectionError("Connection aborted: RemoteDisconnected"))
    with pytest.raises(errors.WriteOutcomeUnknown) as caught:
        create(client)
    assert len(cw.calls) == 1
    assert "re-reads before creating" in caught.value.advice


@pytest.mark.parametrize(
    ("exc", "error"),
    [
        (requests.ReadTimeout("read timed out"), errors.WriteOutcomeUnknown),
        (requests.ConnectTimeout("connect timed out"), errors.ConnectionFailed),
    ],
)
def test_a_post_timeout_is_unknown_only_once_the_request_left(cw, client, exc, error):
    cw.post(ADDITIONS, body=exc)
    with pytest.raises(error):
        create(client)
    assert len(cw.calls) == 1


@pytest.mark.parametrize("exc", [requests.ConnectionError("reset"), requests.ReadTimeout("slow")])
def test_a_get_transport_failure_is_connection_failed(cw, client, exc):
    cw.get(f"{BASE}/system/info", body=exc)
    with pytest.raises(errors.ConnectionFailed):
        client.system_info()


def test_a_non_json_answer_is_an_invalid_site(cw, client):
    cw.get(f"{BASE}/system/info", body="<html>login</html>", content_type="text/html")
    with pytest.raises(errors.InvalidSite, match="other than JSON"):
        client.system_info()


def test_requests_are_logged_without_secrets(cw, client, caplog):
    cw.get(f"{BASE}/system/info", json={"version": "v2025.8"})
    cw.post(ADDITIONS, status=400, json={"message": "nope"})
    caplog.set_level(logging.DEBUG)
    client.system_info()
    with pytest.raises(errors.ValidationFailed):
        create(client)
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("billing_sync")]
    assert any(m.startswith("ConnectWise GET /system/info -> 200 in ") for m in messages)
    assert any(
        m.startswith("ConnectWise POST /finance/agreements/9/additions -> 400") for m in messages
    )
    token = cw.calls[0].request.headers["Authorization"]
    for text in (caplog.text, repr(CREDENTIALS), repr(client)):
        assert CREDENTIALS.private_key not in text
        assert token.split()[1] not in text


def test_repr_hides_the_private_key():
    assert "very-secret-private-key" not in repr(CREDENTIALS)
    assert "very-secret-private-key" not in str(CREDENTIALS)
    assert "pub-key" in repr(CREDENTIALS)

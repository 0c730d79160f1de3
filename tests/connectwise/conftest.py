"""Fixtures for the ConnectWise client: a mocked site that checks every request against the spec."""

from __future__ import annotations

import json
import socket
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from billing_sync.connectwise import hosts
from billing_sync.connectwise.client import ConnectWiseClient, Credentials
from tests.support.cw_openapi import check_request

SITE = "https://na.myconnectwise.net"
BASE = f"{SITE}/v4_6_release/apis/3.0"
TIMEOUT = 12.5
CREDENTIALS = Credentials(
    site="na.myconnectwise.net",
    company_id="acme",
    public_key="pub-key",
    private_key="very-secret-private-key",
    client_id="11111111-2222-3333-4444-555555555555",
)


def public_resolver(host, port, *args, **kwargs):
    """getaddrinfo stand-in: every name resolves to one public address."""
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]


def query(call) -> dict[str, str]:
    """The query string of a recorded call as a flat dict."""
    return {k: v[-1] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


def body(call):
    """The JSON body of a recorded call, or None."""
    raw = call.request.body
    return None if raw is None else json.loads(raw)


@pytest.fixture
def cw():
    """A mocked ConnectWise; afterwards every API call must match the spec and carry a timeout."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock
        for call in mock.calls:
            assert call.request.req_kwargs["timeout"] == TIMEOUT, call.request.url
            if "/apis/3.0/" in call.request.url:
                check_request(call.request.method, call.request.url, body(call))


def make_client(monkeypatch, **kwargs) -> ConnectWiseClient:
    """A client for the public cloud site (DNS faked), codebase pinned unless given."""
    with monkeypatch.context() as patch:
        patch.setattr(hosts.socket, "getaddrinfo", public_resolver)
        options = {
            "codebase": "v4_6_release",
            "timeout": TIMEOUT,
            "max_retries": 2,
            "backoff_factor": 0,
        }
        return ConnectWiseClient(CREDENTIALS, **{**options, **kwargs})


@pytest.fixture
def client(cw, monkeypatch):
    with make_client(monkeypatch) as client:
        yield client

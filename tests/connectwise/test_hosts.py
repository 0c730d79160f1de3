"""Site normalisation and the refusal of loopback/private/reserved hosts."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from billing_sync.connectwise import hosts
from billing_sync.connectwise.errors import InvalidSite
from billing_sync.connectwise.hosts import check_site


def resolver(*addresses: str):
    """A getaddrinfo stand-in answering `addresses` for any name."""

    def getaddrinfo(host, port, *args, **kwargs):
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]

    return getaddrinfo


@pytest.fixture
def public_dns(monkeypatch):
    monkeypatch.setattr(hosts.socket, "getaddrinfo", resolver("52.1.2.3"))


@pytest.mark.parametrize(
    ("site", "normalised"),
    [
        ("na.myconnectwise.net", "https://na.myconnectwise.net"),
        ("  NA.MyConnectWise.net  ", "https://na.myconnectwise.net"),
        ("na.myconnectwise.net/", "https://na.myconnectwise.net"),
        ("https://eu.myconnectwise.net", "https://eu.myconnectwise.net"),
        ("cw.example.com:8443", "https://cw.example.com:8443"),
        ("52.1.2.3", "https://52.1.2.3"),
    ],
)
def test_public_sites_are_normalised(public_dns, site, normalised):
    assert check_site(site, allow_private_hosts=False) == normalised


@pytest.mark.parametrize(
    ("site", "normalised"),
    [
        ("http://127.0.0.1:8123", "http://127.0.0.1:8123"),
        ("localhost:8123", "https://localhost:8123"),
        ("http://[::1]:8123/", "http://[::1]:8123"),
        ("https://cw.internal.lan", "https://cw.internal.lan"),
    ],
)
def test_private_sites_are_used_as_is_when_allowed(site, normalised, monkeypatch):
    def no_lookup(*args, **kwargs):
        raise AssertionError("no DNS lookup is needed when private hosts are allowed")

    monkeypatch.setattr(hosts.socket, "getaddrinfo", no_lookup)
    assert check_site(site, allow_private_hosts=True) == normalised


@pytest.mark.parametrize(
    "site",
    [
        "",
        "   ",
        "ftp://na.myconnectwise.net",
        "https://",
        "na.myconnectwise.net/v4_6_release",
        "https://na.myconnectwise.net?x=1",
        "https://user:pw@na.myconnectwise.net",
        "na.myconnect wise.net",
        "na.myconnectwise.net:99999",
        "na.myconnectwise.net:port",
    ],
)
def test_malformed_sites_are_refused(public_dns, site):
    with pytest.raises(InvalidSite):
        check_site(site, allow_private_hosts=False)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.5",
        "192.168.1.1",
        "169.254.169.254",
        "0.0.0.0",
        "100.64.0.1",
        "240.0.0.1",
        "224.0.0.1",
        "::1",
        "fe80::1",
        "fd00::1",
        "::ffff:127.0.0.1",
    ],
)
def test_non_public_addresses_are_refused_unless_allowed(monkeypatch, address):
    monkeypatch.setattr(hosts.socket, "getaddrinfo", resolver(address))
    with pytest.raises(InvalidSite) as caught:
        check_site("cw.example.com", allow_private_hosts=False)
    assert str(ipaddress.ip_address(address)) in str(caught.value)
    assert "BILLING_SYNC_ALLOW_PRIVATE_HOSTS=1" in caught.value.advice


@pytest.mark.parametrize("site", ["127.0.0.1:8123", "https://[::1]", "https://10.0.0.1"])
def test_private_ip_literals_are_refused_without_lookup(site):
    with pytest.raises(InvalidSite) as caught:
        check_site(site, allow_private_hosts=False)
    assert "BILLING_SYNC_ALLOW_PRIVATE_HOSTS=1" in caught.value.advice


def test_one_private_address_among_public_ones_is_refused(monkeypatch):
    monkeypatch.setattr(hosts.socket, "getaddrinfo", resolver("52.1.2.3", "10.0.0.8"))
    with pytest.raises(InvalidSite):
        check_site("cw.example.com", allow_private_hosts=False)


def test_a_name_that_does_not_resolve_is_refused(monkeypatch):
    def fail(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(hosts.socket, "getaddrinfo", fail)
    with pytest.raises(InvalidSite, match="does not resolve"):
        check_site("na.myconnectwsie.net", allow_private_hosts=False)


def test_plain_http_is_refused_for_public_hosts(public_dns):
    with pytest.raises(InvalidSite, match="plain http") as caught:
        check_site("http://na.myconnectwise.net", allow_private_hosts=False)
    assert "https://" in caught.value.advice


@pytest.mark.parametrize(
    ("typed", "tidied", "notes"),
    [
        ("na.myconnectwise.net", "https://na.myconnectwise.net", ["https:// was added"]),
        ("https://eu.myconnectwise.net", "https://eu.myconnectwise.net", []),
        (
            "https://na.myconnectwise.net/v4_6_release/services/system_io/Service/"
            "fv_sr100_request.rails?service_recid=12",
            "https://na.myconnectwise.net",
            ["browser path after the host (/v4_6_release/services/system_io/Service…) was left"],
        ),
        (
            "na.myconnectwise.net/v2025_1/ConnectWise.aspx",
            "https://na.myconnectwise.net",
            ["https:// was added", "(/v2025_1/ConnectWise.aspx) was left out"],
        ),
        ("https://cw.example.com/login", "https://cw.example.com/login", []),  # check_site judges
    ],
)
def test_tidy_site_adds_the_scheme_and_trims_a_browser_path_and_says_so(typed, tidied, notes):
    site, said = hosts.tidy_site(typed)
    assert site == tidied
    assert len(said) == len(notes)
    for note, words in zip(said, notes, strict=True):
        assert words in note

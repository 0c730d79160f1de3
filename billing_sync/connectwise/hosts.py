"""Normalise a ConnectWise site and refuse hosts on loopback/private/reserved addresses."""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import urlsplit

from billing_sync.connectwise.errors import InvalidSite

ALLOW_ADVICE = (
    "ConnectWise sites must be public hosts. To use a site on a loopback or private network "
    "(simulator, on-premise server), set BILLING_SYNC_ALLOW_PRIVATE_HOSTS=1."
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# The codebase a ConnectWise browser URL carries after the host, e.g. /v4_6_release/services/...
CODEBASE_PATH = re.compile(r"/v\d+(?:_\d+)*(?:_release)?(?:/.*)?", re.IGNORECASE)
SHOWN_PATH = 40  # characters of a left-out path the message repeats


def tidy_site(site: str) -> tuple[str, list[str]]:
    """A typed site made usable, and what was changed to make it so, said in words.

    A bare host gets https://; a URL pasted from the browser (host + /v4_6_release/...) keeps
    its host only. Anything else is left as typed for check_site to judge.
    """
    raw = (site or "").strip()
    notes = []
    if raw and "://" not in raw:
        raw = f"https://{raw}"
        notes.append("https:// was added in front of it")
    try:
        parts = urlsplit(raw)
    except ValueError:
        return raw, notes
    if parts.scheme and parts.netloc and CODEBASE_PATH.fullmatch(parts.path):
        left_out = raw[len(f"{parts.scheme}://{parts.netloc}") :]
        shown = left_out if len(left_out) <= SHOWN_PATH else left_out[:SHOWN_PATH] + "…"
        notes.append(f"the browser path after the host ({shown}) was left out")
        raw = f"{parts.scheme}://{parts.netloc}"
    return raw, notes


def check_site(site: str, allow_private_hosts: bool) -> str:
    """Return the site as `scheme://host[:port]`, or raise InvalidSite."""
    raw = (site or "").strip()
    if not raw:
        raise InvalidSite("The ConnectWise site is empty.")
    url = raw if "://" in raw else f"https://{raw}"
    scheme, netloc, host, port = _split(url, raw)
    if scheme == "http" and not allow_private_hosts:
        # Basic auth over plain HTTP would expose the key pair to anyone on the path.
        raise InvalidSite(
            f"The ConnectWise site {raw!r} uses plain http.",
            advice="Use https:// (or the bare host name, e.g. na.myconnectwise.net).",
        )
    if not allow_private_hosts:
        # Allowed private hosts need no lookup: there is nothing left to refuse.
        for address in _addresses(host, port or (443 if scheme == "https" else 80)):
            if not _is_public(address):
                raise InvalidSite(
                    f"The ConnectWise site {raw!r} points to a non-public address ({address}).",
                    advice=ALLOW_ADVICE,
                )
    return f"{scheme}://{netloc}"


def _split(url: str, raw: str) -> tuple[str, str, str, int | None]:
    """Scheme, lower-cased netloc, host and port of a site URL; anything else is refused."""
    malformed = InvalidSite(
        f"The ConnectWise site {raw!r} is not a valid host name or URL.",
        advice="Enter the host only, e.g. na.myconnectwise.net (or https://host[:port]).",
    )
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError on a non-numeric or out-of-range port
    except ValueError:
        raise malformed from None
    host = parts.hostname or ""
    scheme = parts.scheme.lower()
    if (
        scheme not in ("http", "https")
        or not host
        or parts.username is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or any(ch.isspace() for ch in raw)
    ):
        raise malformed
    return scheme, parts.netloc.lower(), host, port


def _addresses(host: str, port: int) -> list[IPAddress]:
    """The host's IP addresses: the literal itself, or every address its name resolves to."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise InvalidSite(
            f"The ConnectWise site host {host!r} does not resolve (DNS lookup failed).",
            advice="Check the spelling of the site, e.g. na.myconnectwise.net.",
        ) from None
    # sockaddr[0] may carry an IPv6 scope ("fe80::1%eth0"), which ip_address accepts.
    return [ipaddress.ip_address(info[4][0]) for info in infos]


def _is_public(address: IPAddress) -> bool:
    """False for loopback, private, link-local, reserved, multicast and unspecified addresses."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # ::ffff:127.0.0.1 reaches 127.0.0.1; judge the IPv4 address it maps to.
        address = address.ipv4_mapped
    return address.is_global and not (
        address.is_multicast or address.is_reserved or address.is_unspecified
    )

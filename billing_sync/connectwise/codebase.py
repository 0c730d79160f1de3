"""The codebase of a ConnectWise site: what `/login/companyinfo/{companyId}` answers, checked."""

from __future__ import annotations

import re

import requests

from billing_sync.connectwise.errors import InvalidSite
from billing_sync.connectwise.transport import error_for_response

_CODEBASE = re.compile(r"^[A-Za-z0-9_.\-]{1,63}/$")  # fits connections.codebase (64)


def codebase_from_answer(response: requests.Response, site: str, company_id: str, path: str) -> str:
    """The codebase named by the companyinfo answer, or the error that says what is wrong."""
    if response.status_code == 429 or response.status_code >= 500:
        raise error_for_response("GET", path, response)
    try:
        info = response.json() if response.status_code == 200 else None
    except ValueError:
        info = None
    if response.status_code != 200 or (info is not None and not isinstance(info, dict)):
        raise InvalidSite(
            f"{site} does not answer like a ConnectWise site "
            f"(GET {path} -> {response.status_code}).",
            status=response.status_code,
            response=response,
        )
    if not info or not info.get("Codebase"):
        raise InvalidSite(
            f"ConnectWise at {site} reports an unknown company id {company_id!r}.",
            advice="Use the company id you type on the ConnectWise login page.",
            response=response,
        )
    return normalise_codebase(str(info["Codebase"]))


def normalise_codebase(codebase: str) -> str:
    """`v4_6_release` / `/v4_6_release/` -> `v4_6_release/`; refuses anything path-like."""
    value = codebase.strip().strip("/") + "/"
    if not _CODEBASE.match(value):
        raise InvalidSite(f"Invalid ConnectWise codebase {codebase[:80]!r}.")
    return value

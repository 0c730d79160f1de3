"""The calls that create an agreement: read a template and a company, POST once, find by marker."""

from __future__ import annotations

from typing import Any

from billing_sync.connectwise import conditions as cond
from billing_sync.connectwise.errors import ConnectWiseError, NotFound, WriteOutcomeUnknown
from billing_sync.connectwise.guards import checked_id, only_asked
from billing_sync.connectwise.records import Agreement
from billing_sync.connectwise.schemas import AgreementSchema, load_record, shared
from billing_sync.connectwise.transport import json_body

AGREEMENTS = "/finance/agreements"
PATHS = {"agreements": AGREEMENTS, "companies": "/company/companies"}


class AgreementCreationCalls:
    """Mixed into ConnectWiseClient: it supplies `_request`, `agreements` and the limits."""

    def record_json(self, kind: str, record_id: int) -> dict[str, Any]:
        """One agreement or company (`kind`) as ConnectWise sends it; NotFound for another id."""
        path = f"{PATHS[kind]}/{checked_id(record_id)}"
        body = json_body(self._request("GET", path))  # type: ignore[attr-defined]
        if not isinstance(body, dict) or body.get("id") != record_id:
            raise NotFound(f"GET {path}: ConnectWise answered with another record.")
        return body

    def create_agreement(self, body: dict[str, Any]) -> Agreement:
        """POST a new agreement; sent once, never retried (WriteOutcomeUnknown if garbled)."""
        response = self._request("POST", AGREEMENTS, json=body)  # type: ignore[attr-defined]
        try:
            return load_record(shared(AgreementSchema), json_body(response))
        except ConnectWiseError as exc:
            # A 2xx: the agreement probably exists; which one is unknown until the marker says.
            said = f"POST {AGREEMENTS}: {exc}"
            raise WriteOutcomeUnknown(said, status=response.status_code) from exc

    def agreements_with_marker(self, cw_company_id: int, marker: str) -> list[Agreement]:
        """The company's agreements whose internal notes carry `marker` (checked here too)."""
        conditions = cond.and_(
            cond.eq("company/id", checked_id(cw_company_id)), cond.contains("internalNotes", marker)
        )
        listed = self.agreements(conditions)  # type: ignore[attr-defined]
        kept = only_asked(listed, lambda a: a.company_id, {cw_company_id}, "agreements")
        return [a for a in kept if marker in (a.internal_notes or "").split()]

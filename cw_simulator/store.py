"""The simulator's visible state: credentials, records, faults and the request log."""

from __future__ import annotations

import copy
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from cw_simulator import records as rec
from cw_simulator.conditions import parse_datetime
from cw_simulator.faults import Faults
from cw_simulator.records import KINDS

LOST_RESPONSE = 0  # LoggedRequest.status of a POST whose response was deliberately never sent
SEED_FORMAT = "billing-sync-cw-simulator/1"
# What LoggedRequest.faults may hold, one name per injected fault.
FAULT_NAMES = (
    "rate_limited", "server_error", "slow_post", "forced_error", "lost_answer", "corrupt_answer",
)  # fmt: skip


@dataclass(frozen=True)
class LoggedRequest:
    """One request the simulator answered.

    `body` is the parsed JSON (None when absent or not JSON); `status` is LOST_RESPONSE (0) when
    the response was deliberately dropped; `path_template` is the spec path (None if unrouted);
    `faults` names the injected faults that shaped the answer (see FAULT_NAMES).
    """

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    status: int
    path_template: str | None = None
    faults: tuple[str, ...] = ()


class SimulatorState:
    """Everything a simulated ConnectWise instance knows; one lock guards every mutation."""

    def __init__(
        self,
        company_id: str = "training",
        public_key: str = "pubkey",
        private_key: str = "privkey",
        client_id: str = "5f1e6a3c-0000-4000-8000-000000000001",
        codebase: str = "v4_6_release/",
        company_name: str = "Simulated MSP",
    ) -> None:
        self.company_id = company_id
        self.public_key = public_key
        self.private_key = private_key
        self.client_id = client_id
        self.codebase = codebase.strip("/") + "/"
        self.company_name = company_name
        self.faults = Faults()
        # "METHOD /template" entries (e.g. "POST /finance/agreements/{parentId}/additions") that
        # answer 403, as CW does when the API member's security role lacks the permission.
        self.forbidden: set[str] = set()
        self.lock = threading.RLock()
        self._tables: dict[str, dict[int, dict[str, Any]]] = {kind: {} for kind in KINDS}
        self._next_ids = dict.fromkeys(KINDS, 1)
        self._type_ids: dict[str, int] = {}
        self._log: list[LoggedRequest] = []

    # -- records ------------------------------------------------------------------------------

    def new_id(self, kind: str, wanted: int | None = None) -> int:
        """The next id of `kind` (monotonic), or `wanted` when seeding; call under the lock."""
        new = self._next_ids[kind] if wanted is None else int(wanted)
        if new in self._tables[kind]:
            raise ValueError(f"{kind} id {new} already exists")
        self._next_ids[kind] = max(self._next_ids[kind], new + 1)
        return new

    def peek_id(self, kind: str) -> int:
        """The id the next `new_id(kind)` will return; call under the lock."""
        return self._next_ids[kind]

    def table(self, kind: str) -> dict[int, dict[str, Any]]:
        """The live table of `kind` (id -> record); callers must hold `lock`."""
        return self._tables[kind]

    def get(self, kind: str, id: int) -> dict[str, Any] | None:
        """A copy of one record, or None."""
        with self.lock:
            found = self._tables[kind].get(id)
            return copy.deepcopy(found) if found is not None else None

    def records(self, kind: str) -> list[dict[str, Any]]:
        """Copies of all records of `kind`, by id."""
        with self.lock:
            return [copy.deepcopy(r) for _, r in sorted(self._tables[kind].items())]

    def agreement_type(self, name: str) -> dict[str, Any]:
        """An `AgreementTypeReference` with a stable id per distinct name."""
        with self.lock:
            type_id = self._type_ids.setdefault(name, len(self._type_ids) + 1)
        return {"id": type_id, "name": name}

    def _store(self, kind: str, record: dict[str, Any]) -> dict[str, Any]:
        self._tables[kind][record["id"]] = record
        return copy.deepcopy(record)

    def add_company(
        self,
        name: str,
        identifier: str | None = None,
        deleted: bool = False,
        status: str = "Active",
        *,
        id: int | None = None,
    ) -> dict[str, Any]:
        """Add a company (identifier derived from the name when omitted); returns its CW JSON."""
        with self.lock:
            new = self.new_id("companies", id)
            ident = identifier or rec.company_identifier(name)
            record = rec.company_record(new, name, ident, deleted, status, rec.now_utc())
            return self._store("companies", record)

    def add_agreement(
        self,
        company_id: int,
        name: str,
        status: str = "Active",
        cancelled: bool = False,
        end_date: datetime | date | str | None = None,
        no_ending_date: bool = True,
        type_name: str = "Managed Services",
        *,
        id: int | None = None,
        start_date: datetime | date | str | None = None,
    ) -> dict[str, Any]:
        """Add an agreement of an existing company; returns its CW JSON."""
        if status not in rec.AGREEMENT_STATUSES:
            raise ValueError(f"agreement status must be one of {rec.AGREEMENT_STATUSES}")
        with self.lock:
            company = self._tables["companies"].get(company_id)
            if company is None:
                raise KeyError(f"no company with id {company_id}")
            new = self.new_id("agreements", id)
            record = rec.agreement_record(
                new, company, name, status, cancelled, rec.format_datetime(end_date),
                no_ending_date, self.agreement_type(type_name), rec.now_utc(),
            )  # fmt: skip
            if start_date is not None:
                record["startDate"] = record["billStartDate"] = rec.format_datetime(start_date)
            return self._store("agreements", record)

    def add_catalog_item(
        self,
        identifier: str,
        description: str,
        inactive: bool = False,
        price: float = 0.0,
        cost: float = 0.0,
        *,
        id: int | None = None,
    ) -> dict[str, Any]:
        """Add a catalog item (procurement product); returns its CW JSON."""
        with self.lock:
            new = self.new_id("catalog", id)
            record = rec.catalog_record(
                new, identifier, description, inactive, price, cost, rec.now_utc()
            )
            return self._store("catalog", record)

    def add_addition(
        self,
        agreement_id: int,
        product_id: int,
        quantity: float = 0,
        cancelled_date: datetime | date | str | None = None,
        effective_date: datetime | date | str | None = None,
        description: str | None = None,
        bill_customer: str = "Billable",
        *,
        id: int | None = None,
    ) -> dict[str, Any]:
        """Add an addition to an agreement (effective today when no date is given)."""
        if bill_customer not in rec.BILL_CUSTOMER:
            raise ValueError(f"bill_customer must be one of {rec.BILL_CUSTOMER}")
        fields_ = {
            "quantity": float(quantity),
            "cancelledDate": rec.format_datetime(cancelled_date),
            "effectiveDate": rec.format_datetime(effective_date),
            "description": description,
            "billCustomer": bill_customer,
        }
        with self.lock:
            agreement = self._tables["agreements"].get(agreement_id)
            item = self._tables["catalog"].get(product_id)
            if agreement is None or item is None:
                raise KeyError(f"no agreement {agreement_id} or catalog item {product_id}")
            new = self.new_id("additions", id)
            given = {k: v for k, v in fields_.items() if v is not None}
            record = rec.addition_record(new, agreement, item, given, rec.now_utc())
            return self._store("additions", record)

    def edit_addition(
        self, addition_id: int, *, quantity: float, updated_by: str, at: datetime | None = None
    ) -> dict[str, Any]:
        """A person changes an addition's quantity in ConnectWise: `_info` names them."""
        with self.lock:
            addition = self._tables["additions"][addition_id]
            addition["quantity"] = float(quantity)
            addition["_info"] = {
                **addition.get("_info", {}),
                "updatedBy": updated_by,
                "lastUpdated": rec.format_datetime(at or rec.now_utc()),
            }
            rec.derive_addition(addition, self._tables["agreements"][addition["agreementId"]])
            return copy.deepcopy(addition)

    def additions(self, agreement_id: int, include_cancelled: bool = True) -> list[dict[str, Any]]:
        """Copies of an agreement's additions by id; optionally only those not yet cancelled."""
        now = rec.now_utc()
        found = [a for a in self.records("additions") if a.get("agreementId") == agreement_id]
        if include_cancelled:
            return found
        return [
            a for a in found if "cancelledDate" not in a or parse_datetime(a["cancelledDate"]) > now
        ]

    # -- seed ---------------------------------------------------------------------------------

    def to_seed(self) -> dict[str, Any]:
        """Credentials and every record as a JSON-serialisable dict (see example_seed.json)."""
        with self.lock:
            return {
                "format": SEED_FORMAT,
                "credentials": {
                    "companyId": self.company_id,
                    "publicKey": self.public_key,
                    "privateKey": self.private_key,
                    "clientId": self.client_id,
                    "codebase": self.codebase,
                    "companyName": self.company_name,
                },
                **{kind: self.records(kind) for kind in KINDS},
            }

    # -- log ----------------------------------------------------------------------------------

    def record_request(self, entry: LoggedRequest) -> None:
        """Append one request to the log."""
        with self.lock:
            self._log.append(entry)

    @property
    def log(self) -> list[LoggedRequest]:
        """A snapshot of the request log, oldest first."""
        with self.lock:
            return list(self._log)

    def clear_log(self) -> None:
        """Forget every logged request."""
        with self.lock:
            self._log.clear()

    def request_counts(self) -> dict[str, int]:
        """Logged requests by HTTP method, e.g. {"GET": 12, "POST": 3}."""
        return dict(Counter(entry.method for entry in self.log))

    def request_counts_by_path(self) -> dict[str, int]:
        """Logged requests by method and path template, e.g. {"GET /system/info": 1}."""
        return dict(Counter(f"{e.method} {e.path_template or e.path}" for e in self.log))

    def fault_counts(self) -> dict[str, int]:
        """Injected faults in the log by name, e.g. {"slow_post": 2, "lost_answer": 1}."""
        return dict(Counter(name for entry in self.log for name in entry.faults))

"""The 13 API paths of the spec: routing and per-collection handlers."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, partial
from typing import Any

from cw_simulator import listing, validation
from cw_simulator import records as rec
from cw_simulator.errors import ApiError, not_found
from cw_simulator.store import SimulatorState

Record = dict[str, Any]
# Fields that may be absent from a record (CW omits nulls) but can still be queried.
_OPTIONAL_FIELDS = {
    "companies": {"dateDeleted", "deletedBy", "addressLine2", "faxNumber", "parentCompany"},
    "agreements": {
        "endDate",
        "dateCancelled",
        "reasonCancelled",
        "parentAgreement",
        "internalNotes",
    },
    "catalog": {"manufacturer", "vendor", "notes"},
    "additions": {"cancelledDate", "serialNumber", "opportunity"},
}
# Fields a PATCH may not touch: identity, audit, and what CW derives itself.
_READ_ONLY = {"id", "_info", "agreementId", "extPrice", "extCost", "margin", "agreementStatus"}


@dataclass(frozen=True)
class Request:
    """One API call after auth: path parameters, query, parsed body and its own URL."""

    method: str
    params: dict[str, int]
    query: dict[str, list[str]]
    body: Any
    url: str


@dataclass
class Response:
    """Status, JSON body (None = no content) and extra headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Collection:
    """One CW collection: its table, label for messages, and body -> record builder."""

    kind: str
    label: str
    build: Callable[..., Record]
    nested: bool = False


COMPANIES = Collection("companies", "Company", validation.build_company)
AGREEMENTS = Collection("agreements", "Agreement", validation.build_agreement)
CATALOG = Collection("catalog", "Catalog item", validation.build_catalog_item)
ADDITIONS = Collection("additions", "Addition", validation.build_addition, nested=True)


@cache
def known_fields(kind: str) -> frozenset[str]:
    """Top-level fields a record of `kind` can carry (for conditions and orderBy)."""
    sample = SimulatorState()
    company = sample.add_company("Sample", deleted=True)
    agreement = sample.add_agreement(company["id"], "Sample", cancelled=True, no_ending_date=False)
    item = sample.add_catalog_item("SAMPLE", "Sample")
    addition = sample.add_addition(agreement["id"], item["id"], cancelled_date="2000-01-01")
    samples = {"companies": company, "agreements": agreement, "catalog": item}
    return frozenset(samples.get(kind, addition)) | _OPTIONAL_FIELDS[kind]


def _parent(state: SimulatorState, req: Request) -> Record | None:
    if "parentId" not in req.params:
        return None
    agreement = state.table("agreements").get(req.params["parentId"])
    if agreement is None:
        raise not_found("Agreement", req.params["parentId"])
    return agreement


def _scope(state: SimulatorState, coll: Collection, req: Request) -> list[Record]:
    rows = state.table(coll.kind).values()
    parent = _parent(state, req)
    if parent is None:
        return list(rows)
    return [r for r in rows if r.get("agreementId") == parent["id"]]


def _one(state: SimulatorState, coll: Collection, req: Request) -> Record:
    parent = _parent(state, req)
    found = state.table(coll.kind).get(req.params["id"])
    if found is None or (parent is not None and found.get("agreementId") != parent["id"]):
        raise not_found(coll.label, req.params["id"])
    return found


def _build(state: SimulatorState, coll: Collection, req: Request, id: int, body: Any, old=None):
    if not isinstance(body, dict):
        raise ApiError(400, "InvalidObject", "The request body must be a JSON object.")
    if coll.nested:
        return coll.build(state, id, body, old, _parent(state, req))
    return coll.build(state, id, body, old)


def list_records(state: SimulatorState, coll: Collection, req: Request) -> Response:
    """GET a collection: conditions, orderBy, page/pageSize (+ Link) and fields."""
    known = known_fields(coll.kind)
    predicate = listing.conditions(req.query, known)
    with state.lock:
        rows = [copy.deepcopy(r) for r in _scope(state, coll, req) if predicate(r)]
    listing.order(rows, req.query, known)
    page, size = listing.paging(req.query)
    chunk = rows[(page - 1) * size : page * size]
    link = listing.link_header(req.url, req.query, page, size, len(rows))
    body = [listing.project(r, req.query) for r in chunk]
    return Response(200, body, {"Link": link} if link else {})


def count_records(state: SimulatorState, coll: Collection, req: Request) -> Response:
    """GET .../count: how many records match `conditions`."""
    predicate = listing.conditions(req.query, known_fields(coll.kind))
    with state.lock:
        return Response(200, {"count": sum(1 for r in _scope(state, coll, req) if predicate(r))})


def get_record(state: SimulatorState, coll: Collection, req: Request) -> Response:
    """GET one record by id."""
    with state.lock:
        found = copy.deepcopy(_one(state, coll, req))
    return Response(200, listing.project(found, req.query))


def create_record(state: SimulatorState, coll: Collection, req: Request) -> Response:
    """POST: validate, assign the next id, store; 201 with the full record."""
    with state.lock:
        record = _build(state, coll, req, state.peek_id(coll.kind), req.body)
        state.table(coll.kind)[state.new_id(coll.kind)] = record
        return Response(201, copy.deepcopy(record))


def replace_record(state: SimulatorState, coll: Collection, req: Request) -> Response:
    """PUT: the body replaces the whole record (id kept)."""
    with state.lock:
        old = _one(state, coll, req)
        record = _build(state, coll, req, old["id"], req.body, old)
        state.table(coll.kind)[old["id"]] = record
        return Response(200, copy.deepcopy(record))


def patch_record(state: SimulatorState, coll: Collection, req: Request) -> Response:
    """PATCH: a JSON array of {op, path, value}; the patched record is re-validated."""
    if not isinstance(req.body, list):
        message = "The request body must be a JSON array of PatchOperation objects."
        raise ApiError(400, "InvalidObject", message)
    with state.lock:
        old = _one(state, coll, req)
        draft = copy.deepcopy(old)
        for operation in req.body:
            _apply_patch(draft, operation, coll)
        record = _build(state, coll, req, old["id"], draft, old)
        state.table(coll.kind)[old["id"]] = record
        return Response(200, copy.deepcopy(record))


def _patch_error(message: str, path: Any = "") -> ApiError:
    error = {"code": "InvalidField", "message": message, "resource": "patch", "field": str(path)}
    return ApiError(400, "InvalidObject", message, [error])


def _apply_patch(draft: Record, operation: Any, coll: Collection) -> None:
    if not isinstance(operation, dict) or not isinstance(operation.get("path"), str):
        raise _patch_error("Each patch operation must be an object with op, path and value.")
    op, path = str(operation.get("op", "")).lower(), operation["path"]
    parts = [p for p in path.strip("/").split("/") if p]
    if op not in ("replace", "add", "remove"):
        raise _patch_error(f"Unsupported patch op {operation.get('op')!r}.", path)
    if not parts or parts[0] not in known_fields(coll.kind):
        raise _patch_error(f"Cannot patch unknown field {path!r}.", path)
    if parts[0] in _READ_ONLY:
        raise _patch_error(f"Field {path!r} is read-only.", path)
    if op != "remove" and "value" not in operation:
        raise _patch_error(f"Patch operation on {path!r} has no value.", path)
    target = draft
    for name in parts[:-1]:
        target = target.setdefault(name, {})
        if not isinstance(target, dict):
            raise _patch_error(f"Cannot patch inside {name!r}.", path)
    if op == "remove":
        target.pop(parts[-1], None)
    else:
        target[parts[-1]] = operation["value"]


def delete_record(state: SimulatorState, coll: Collection, req: Request) -> Response:
    """DELETE: 204; an agreement takes its additions with it, a record still in use is a 409."""
    with state.lock:
        found = _one(state, coll, req)
        users = {"companies": ("agreements", "company"), "catalog": ("additions", "product")}
        if coll.kind in users:
            kind, ref = users[coll.kind]
            if any(r[ref]["id"] == found["id"] for r in state.table(kind).values()):
                raise ApiError(409, "Conflict", f"{coll.label} {found['id']} is in use.")
        del state.table(coll.kind)[found["id"]]
        if coll.kind == "agreements":
            additions = state.table("additions")
            for doomed in [i for i, a in additions.items() if a["agreementId"] == found["id"]]:
                del additions[doomed]
    return Response(204)


def system_info(state: SimulatorState, req: Request) -> Response:
    """GET /system/info: the credentials check."""
    return Response(200, rec.system_info())


def _collection_routes(base: str, coll: Collection) -> list[tuple[str, dict[str, Callable]]]:
    def bind(handler: Callable) -> Callable:
        return partial(handler, coll=coll)

    return [
        (f"{base}/count", {"GET": bind(count_records)}),
        (f"{base}/{{id}}", {m: bind(h) for m, h in _ONE_HANDLERS.items()}),
        (base, {"GET": bind(list_records), "POST": bind(create_record)}),
    ]


_ONE_HANDLERS = {
    "GET": get_record,
    "PUT": replace_record,
    "PATCH": patch_record,
    "DELETE": delete_record,
}


def _compile(template: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>\\d+)", re.escape(template)) + "/?")


ROUTES = [
    (template, _compile(template), handlers)
    for template, handlers in [
        ("/system/info", {"GET": system_info}),
        *_collection_routes("/company/companies", COMPANIES),
        *_collection_routes("/finance/agreements/{parentId}/additions", ADDITIONS),
        *_collection_routes("/finance/agreements", AGREEMENTS),
        *_collection_routes("/procurement/catalog", CATALOG),
    ]
]


Route = tuple[str, dict[str, Callable], dict[str, int]]


def route(path: str) -> Route | None:
    """(template, handlers by method, path parameters) for an API path, or None."""
    for template, pattern, handlers in ROUTES:
        found = pattern.fullmatch(path)
        if found:
            return template, handlers, {k: int(v) for k, v in found.groupdict().items()}
    return None

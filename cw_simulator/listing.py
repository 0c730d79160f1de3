"""List semantics shared by every collection: conditions, orderBy, paging with Link, fields."""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any
from urllib.parse import quote, urlencode

from cw_simulator.conditions import ConditionError, Predicate, parse_conditions
from cw_simulator.errors import ApiError

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 1000
Query = dict[str, list[str]]


def _last(query: Query, name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _bad_request(message: str, field: str) -> ApiError:
    error = {"code": "InvalidValue", "message": message, "resource": "query", "field": field}
    return ApiError(400, "InvalidObject", message, [error])


def conditions(query: Query, known: Collection[str]) -> Predicate:
    """The predicate of the `conditions` parameter; 400 naming the problem when malformed."""
    try:
        return parse_conditions(_last(query, "conditions"), known)
    except ConditionError as exc:
        raise _bad_request(f"conditions is invalid: {exc}", "conditions") from None


def _int_param(query: Query, name: str, default: int) -> int:
    raw = _last(query, name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise _bad_request(f"{name} must be an integer, got {raw!r}", name) from None


def paging(query: Query) -> tuple[int, int]:
    """(page, pageSize): 1-based page; pageSize defaults to 25 and is clamped to 1000 like CW."""
    page = max(1, _int_param(query, "page", 1))
    size = _int_param(query, "pageSize", DEFAULT_PAGE_SIZE)
    if size < 1:
        size = DEFAULT_PAGE_SIZE
    return page, min(size, MAX_PAGE_SIZE)


def link_header(url: str, query: Query, page: int, size: int, total: int) -> str | None:
    """RFC 5988 `Link` with first/prev/next/last as they apply; None for a single page."""
    last = max(1, math.ceil(total / size))
    rels: list[tuple[str, int]] = []
    if page > 1:
        rels += [("first", 1), ("prev", min(page - 1, last))]
    if page < last:
        rels += [("next", page + 1), ("last", last)]
    if not rels:
        return None
    links = []
    for rel, number in rels:
        params = {**query, "page": [str(number)], "pageSize": [str(size)]}
        links.append(f'<{url}?{urlencode(params, doseq=True, quote_via=quote)}>; rel="{rel}"')
    return ", ".join(links)


def resolve(record: Any, path: list[str]) -> Any:
    """Follow a `company/id` path, or None."""
    for name in path:
        record = record.get(name) if isinstance(record, dict) else None
    return record


def _sort_key(value: Any) -> tuple[bool, Any]:
    if isinstance(value, str):
        value = value.casefold()
    elif isinstance(value, dict | list):
        value = str(value)
    return (value is not None, value if value is not None else 0)


def order(records: list[dict[str, Any]], query: Query, known: Collection[str]) -> None:
    """Sort in place by `orderBy` (`name asc, id desc`); default `id asc`."""
    spec = _last(query, "orderBy") or "id asc"
    terms = [t.split() for t in spec.split(",") if t.strip()]
    for term in reversed(terms):
        if len(term) > 2 or (len(term) == 2 and term[1].lower() not in ("asc", "desc")):
            raise _bad_request(f"orderBy is invalid: {spec!r}", "orderBy")
        path = term[0].split("/")
        if path[0] not in known:
            raise _bad_request(f"orderBy names an unknown field {term[0]!r}", "orderBy")
        descending = len(term) == 2 and term[1].lower() == "desc"
        records.sort(key=lambda r, p=path: _sort_key(resolve(r, p)), reverse=descending)


def project(record: dict[str, Any], query: Query) -> dict[str, Any]:
    """Only the `fields` asked for (`id,name,company/id`), else the whole record."""
    spec = _last(query, "fields")
    if not spec:
        return record
    out: dict[str, Any] = {}
    for field in (f.strip() for f in spec.split(",") if f.strip()):
        path = field.split("/")
        value = resolve(record, path)
        if value is None:
            continue
        target = out
        for name in path[:-1]:
            target = target.setdefault(name, {})
        target[path[-1]] = value
    return out

"""Check ConnectWise requests and responses against the OpenAPI subset kept in `cw_simulator/`."""

from __future__ import annotations

import copy
import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from jsonschema.exceptions import best_match
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

import cw_simulator

ENV_VAR = "BILLING_SYNC_OPENAPI_SUBSET"
SPEC_URI = "urn:billing-sync:cw-manage-openapi-subset"
# `/{codebase}apis/3.0`, e.g. `/v4_6_release/apis/3.0`; the codebase may also be absent.
_API_PREFIX = re.compile(r"^(?:/[^/]+)?/apis/3\.0(?=/|$)")
_METHODS = ("get", "post", "put", "patch", "delete")


def spec_path() -> Path:
    """Where the subset lives: `$BILLING_SYNC_OPENAPI_SUBSET`, else the copy in `cw_simulator/`."""
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override)
    return Path(cw_simulator.__file__).with_name("cw-manage-openapi-subset.json")


@lru_cache(maxsize=1)
def load_spec() -> dict[str, Any]:
    """The spec as used for validation (one documented relaxation, see below)."""
    spec = json.loads(spec_path().read_text(encoding="utf-8"))
    spec = copy.deepcopy(spec)
    # CW's generated spec types PatchOperation.value as `object` (C# `object`, i.e. any JSON);
    # the real API takes numbers and strings there (`{"path": "quantity", "value": 5}`).
    spec["components"]["schemas"]["PatchOperation"]["properties"]["value"] = {}
    return spec


@lru_cache(maxsize=1)
def _registry() -> Registry:
    resource = Resource.from_contents(load_spec(), default_specification=DRAFT4)
    return Registry().with_resource(SPEC_URI, resource)


def _pointer(*parts: str) -> str:
    escaped = (p.replace("~", "~0").replace("/", "~1") for p in parts)
    return SPEC_URI + "#/" + "/".join(escaped)


def _validate(instance: Any, pointer: str, what: str) -> None:
    validator = OAS30Validator(
        {"$ref": pointer}, registry=_registry(), format_checker=oas30_format_checker
    )
    error = best_match(validator.iter_errors(instance))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        raise AssertionError(f"{what}: {error.message} at {where}")


def api_path(url: str) -> str:
    """The path of `url` relative to the API base (`/company/companies/7`)."""
    path = urlsplit(url).path
    return _API_PREFIX.sub("", path, count=1) or "/"


def match_template(url_or_path: str) -> tuple[str, dict[str, str]]:
    """The spec path template matching `url_or_path` and its path parameters."""
    path = api_path(url_or_path).rstrip("/") or "/"
    candidates = []
    for template in load_spec()["paths"]:
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
        found = re.fullmatch(regex, path)
        if found:
            candidates.append((template.count("{"), template, found.groupdict()))
    if not candidates:
        raise AssertionError(f"no path in the ConnectWise spec matches {path!r}")
    # A literal segment (`/count`) wins over a parameter (`/{id}`), as in CW's routing.
    _, template, params = min(candidates)
    return template, params


def _operation(method: str, template: str) -> dict[str, Any]:
    item = load_spec()["paths"][template]
    op = item.get(method.lower())
    if op is None:
        allowed = sorted(m.upper() for m in item if m in _METHODS)
        raise AssertionError(f"{method.upper()} {template} is not in the spec (allowed: {allowed})")
    return op


def _check_parameters(method: str, template: str, op: dict, url: str, params: dict) -> None:
    declared = {(p["in"], p["name"]): p for p in op.get("parameters", [])}
    query = parse_qs(urlsplit(url).query, keep_blank_values=True)
    for name, values in query.items():
        if ("query", name) not in declared:
            names = sorted(n for (where, n) in declared if where == "query")
            raise AssertionError(
                f"query parameter {name!r} is not declared for {method.upper()} {template} "
                f"(declared: {names})"
            )
        _check_scalar(declared[("query", name)], values[-1])
    for name, value in params.items():
        _check_scalar(declared[("path", name)], value)


def _check_scalar(param: dict, value: str) -> None:
    if param.get("schema", {}).get("type") == "integer" and not re.fullmatch(r"-?\d+", value):
        raise AssertionError(f"parameter {param['name']!r} must be an integer, got {value!r}")


def check_request(method: str, url: str, body: Any = None) -> None:
    """Assert that `method url` with JSON `body` is a request the ConnectWise spec allows."""
    template, params = match_template(url)
    op = _operation(method, template)
    _check_parameters(method, template, op, url, params)
    what = f"{method.upper()} {template} request body"
    request_body = op.get("requestBody")
    if request_body is None:
        if body is not None:
            raise AssertionError(f"{method.upper()} {template} takes no request body")
        return
    if body is None:
        if request_body.get("required"):
            raise AssertionError(f"{what} is required")
        return
    media_type = next(iter(request_body["content"]))
    parts = ("paths", template, method.lower(), "requestBody", "content", media_type, "schema")
    _validate(body, _pointer(*parts), what)


def check_response(method: str, path_template_or_url: str, status: int, body: Any) -> None:
    """Assert that `body` is what the spec says `method path` answers with `status`."""
    if status >= 400:
        # Any path, even one outside the spec (a 404 for it), answers errors in this one shape.
        what = f"{method.upper()} {api_path(path_template_or_url)} {status} response"
        _validate(body, _pointer("components", "schemas", "ErrorResponseMessage"), what)
        return
    if "{" in path_template_or_url:
        template = path_template_or_url
    else:
        template, _ = match_template(path_template_or_url)
    what = f"{method.upper()} {template} {status} response"
    op = _operation(method, template)
    response = op["responses"].get(str(status))
    if response is None:
        raise AssertionError(f"{what}: status not declared (declared: {sorted(op['responses'])})")
    content = response.get("content")
    if not content:
        if body not in (None, b"", ""):
            raise AssertionError(f"{what} must have no body, got {body!r}")
        return
    media_type = next(iter(content))
    parts = ("paths", template, method.lower(), "responses", str(status), "content", media_type)
    _validate(body, _pointer(*parts, "schema"), what)

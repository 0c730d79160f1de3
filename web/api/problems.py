"""RFC 9457 problem details: every /api/v1 error as application/problem+json."""

from __future__ import annotations

from collections.abc import Mapping

import marshmallow as ma
from flask import Response, json
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

CONTENT_TYPE = "application/problem+json"
DOCS = "/api/v1/docs"
# status -> (type slug, title); other statuses are about:blank with the status phrase
TYPES = {
    401: ("unauthorized", "Bearer token missing or refused"),
    403: ("forbidden", "Token scope does not allow this"),
    404: ("not-found", "Not found"),
    409: ("conflict", "Conflicts with the current state"),
    413: ("too-large", "Request body too large"),
    422: ("validation", "Invalid request"),
    429: ("rate-limited", "Too many requests"),
}
BODY_LOCATIONS = {"json"}


class ProblemItemSchema(ma.Schema):
    """One validation problem: where (a JSON pointer into the body, or a parameter) and what."""

    pointer = ma.fields.String(metadata={"description": "JSON pointer into the request body"})
    parameter = ma.fields.String(metadata={"description": "query or header parameter"})
    message = ma.fields.String(required=True)


class ProblemSchema(ma.Schema):
    """An RFC 9457 problem details object."""

    type = ma.fields.String(required=True, metadata={"description": "URI reference"})
    title = ma.fields.String(required=True)
    status = ma.fields.Integer(required=True)
    detail = ma.fields.String(required=True)
    errors = ma.fields.List(ma.fields.Nested(ProblemItemSchema))


def problem_type(status: int) -> tuple[str, str]:
    """The (type, title) a status is reported with."""
    if status in TYPES:
        slug, title = TYPES[status]
        return f"{DOCS}#problem-{slug}", title
    return "about:blank", HTTP_STATUS_CODES.get(status, "Error")


def problem(
    status: int,
    detail: str,
    *,
    errors: list[dict] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A problem details response."""
    kind, title = problem_type(status)
    body = {"type": kind, "title": title, "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    response = Response(json.dumps(body), status=status, mimetype=CONTENT_TYPE)
    response.headers.update(headers or {})
    return response


def pointer(*parts: object) -> str:
    """A JSON pointer (RFC 6901) to the given path."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _flatten(messages: object, path: tuple) -> list[tuple[tuple, str]]:
    if isinstance(messages, Mapping):
        found = []
        for key, value in messages.items():
            found += _flatten(value, path if key == "_schema" else (*path, key))
        return found
    if isinstance(messages, list | tuple):
        found = []
        for value in messages:
            found += _flatten(value, path) if not isinstance(value, str) else [(path, value)]
        return found
    return [(path, str(messages))]


def validation_errors(messages: Mapping) -> list[dict]:
    """webargs' {location: {field: [messages]}} as [{pointer|parameter, message}]."""
    errors = []
    for location, fields in messages.items():
        for path, message in _flatten(fields, ()):
            if location in BODY_LOCATIONS:
                errors.append({"pointer": pointer(*path), "message": message})
            else:
                errors.append({"parameter": str(path[0]) if path else "", "message": message})
    return errors


def from_http_exception(exc: HTTPException, extra_headers: Mapping[str, str] | None = None):
    """Any HTTP error (routing, webargs validation, size, rate) as a problem."""
    status = exc.code or 500
    data = getattr(exc, "data", None) or {}
    headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
    headers.update(extra_headers or {})
    if "messages" in data:
        errors = validation_errors(data["messages"])
        detail = "the request is not valid; see errors"
        if status == 400:
            detail = "the request body is not valid JSON"
        return problem(status, detail, errors=errors, headers=headers)
    detail = exc.description or HTTP_STATUS_CODES.get(status, "error")
    return problem(status, detail, headers=headers)

"""Check /api/v1 responses against the app's own OpenAPI 3.1 document."""

from __future__ import annotations

import re
from typing import Any

from jsonschema.exceptions import best_match
from openapi_schema_validator import OAS31Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

URI = "urn:billing-sync:api-v1"


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


class ResponseChecker:
    """Finds the operation a request hit and validates status, headers and body against it."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self.registry = Registry().with_resource(URI, resource)
        self.paths = [
            (re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), path)
            for path in document["paths"]
        ]

    def _resolve(self, item: dict) -> dict:
        while "$ref" in item:
            node: Any = self.document
            for part in item["$ref"].removeprefix("#/").split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
            item = node
        return item

    def operation(self, method: str, path: str) -> tuple[str, dict] | None:
        """(path template, operation) for a concrete path, or None when undocumented."""
        for pattern, template in self.paths:
            if pattern.match(path):
                operation = self.document["paths"][template].get(method.lower())
                return (template, operation) if operation else None
        return None

    def check(self, method: str, path: str, response) -> None:
        """Raise AssertionError unless the response is one the document describes."""
        found = self.operation(method, path)
        assert found, f"{method} {path} is not in the document"
        template, operation = found
        status = str(response.status_code)
        responses = operation["responses"]
        assert status in responses, f"{method} {template}: {status} is not documented"
        described = self._resolve(responses[status])
        for name, header in described.get("headers", {}).items():
            if header.get("required"):
                assert name in response.headers, f"{method} {template} {status}: no {name}"
        content = described.get("content")
        if not content:
            return
        mimetype = response.mimetype
        assert mimetype in content, f"{method} {template} {status}: content type {mimetype}"
        pointer = "/".join(
            ["#", "paths", _escape(template), method.lower(), "responses", status, "content"]
        )
        if "$ref" in responses[status]:
            pointer = responses[status]["$ref"] + "/content"
        pointer += f"/{_escape(mimetype)}/schema"
        validator = OAS31Validator({"$ref": URI + pointer}, registry=self.registry)
        error = best_match(validator.iter_errors(response.get_json()))
        assert error is None, f"{method} {template} {status}: {error.message} at {error.json_path}"

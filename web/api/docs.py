"""The API's own description: the OpenAPI document and a reference page rendered from it."""

from __future__ import annotations

import json

from flask import Blueprint, current_app, jsonify, render_template

from web.api.problems import TYPES, problem_type

bp = Blueprint("api_docs", __name__, url_prefix="/api/v1")
METHODS = ("get", "put", "post", "patch", "delete")


def document() -> dict:
    """The OpenAPI 3.1 document of this app's API."""
    return current_app.extensions["billing_sync_api"].spec.to_dict()


@bp.get("/openapi.json")
def openapi_json():
    """The OpenAPI document (no token needed)."""
    return jsonify(document())


def _operations(spec: dict) -> list[dict]:
    found = []
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                operation = item[method]
                found.append(
                    {
                        "id": f"{method}-{path}".replace("/", "-")
                        .replace("{", "")
                        .replace("}", ""),
                        "method": method.upper(),
                        "path": path,
                        "summary": operation.get("summary", ""),
                        "description": operation.get("description", ""),
                        "parameters": [
                            *item.get("parameters", []),
                            *operation.get("parameters", []),
                        ],
                        "body": operation.get("requestBody"),
                        "responses": operation.get("responses", {}),
                    }
                )
    return found


@bp.get("/docs")
def reference():
    """The API reference, rendered here from the OpenAPI document (no script, no CDN)."""
    spec = document()
    problems = [(slug, title, status) for status, (slug, title) in sorted(TYPES.items())]
    return render_template(
        "api_docs.html",
        spec=spec,
        operations=_operations(spec),
        schemas=spec.get("components", {}).get("schemas", {}),
        problems=problems,
        problem_type=problem_type,
        pretty=lambda value: json.dumps(value, indent=2),
    )

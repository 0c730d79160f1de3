"""The REST API under /api/v1: Bearer tokens, problem details, OpenAPI 3.1 from the schemas."""

from __future__ import annotations

from http import HTTPStatus

from flask import Flask
from flask_smorest import Api
from flask_wtf.csrf import CSRFProtect

from web.api import docs, views
from web.api.problems import CONTENT_TYPE, ProblemSchema
from web.api.security import rate_key
from web.state import AppState

PREFIX = "/api/v1"
BLUEPRINTS = {views.bp.name, docs.bp.name}  # they check Bearer tokens, not sessions
HEADERS = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "required": True}},
    429: {
        "Retry-After": {"description": "seconds", "schema": {"type": "string"}, "required": True}
    },
}
DESCRIPTION = """Push seats and user-list snapshots, read counts, companies and runs, start syncs.

Authenticate with `Authorization: Bearer <token>` (`billing-sync token create PARTNER`).
Every id is scoped to the token's partner; errors are RFC 9457 problem details."""


class ProblemApi(Api):
    """flask-smorest's Api, answering and documenting errors as application/problem+json."""

    DEFAULT_ERROR_RESPONSE_NAME = None

    def _register_error_handlers(self) -> None:
        """None app-wide: the API blueprint answers its own errors, the pages keep theirs."""

    def _register_responses(self) -> None:
        for status in HTTPStatus:
            if status < 400:
                continue
            response = {
                "description": status.phrase,
                "content": {CONTENT_TYPE: {"schema": ProblemSchema}},
            }
            if status in HEADERS:
                response["headers"] = HEADERS[status]
            self.spec.components.response(status.name, response, lazy=True)


def init_app(app: Flask, app_state: AppState, csrf: CSRFProtect) -> ProblemApi:
    """Register the API and its documentation; rate-limit it per token with the app's limiter."""
    app.config.update(
        API_TITLE="billing-sync API",
        API_VERSION="1",
        OPENAPI_VERSION="3.1.0",
        API_SPEC_OPTIONS={
            "info": {"description": DESCRIPTION},
            "security": [{"bearerAuth": []}],
        },
    )
    api = ProblemApi(app)
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "description": "an API token"}
    )
    # One budget per token across every endpoint (a shared limit), in the app's limiter storage.
    app_state.limiter.shared_limit(app_state.settings.api_rate_limit, "api", key_func=rate_key)(
        views.bp
    )
    api.register_blueprint(views.bp)
    app.register_blueprint(docs.bp)
    csrf.exempt(views.bp)
    csrf.exempt(docs.bp)
    app.extensions["billing_sync_api"] = api
    return api

"""Error pages: domain 'not found' becomes 404, bad input and CSRF failures 400, viewers' 403."""

from __future__ import annotations

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from billing_sync.errors import InvalidInput, NotFoundError
from web.api.problems import from_http_exception

API_PREFIX = "/api/v1"

TITLES = {
    400: "Bad request",
    401: "Sign-in required",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    413: "File too large",
    429: "Too many requests",
}


def _http_error(exc: HTTPException):
    if request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/"):
        return from_http_exception(exc)  # unknown /api/v1 URLs and methods: problem details
    code = exc.code or 500
    return render_template(
        "error.html", code=code, title=TITLES.get(code, exc.name), message=exc.description
    ), code


def _csrf_error(exc: CSRFError):
    message = "The form expired or was not sent from this site; reload the page and try again."
    return render_template("error.html", code=400, title="Bad request", message=message), 400


def _bad_input(exc: InvalidInput):
    # A malformed id or page number in a URL or form; forms that can say more catch it first.
    return render_template("error.html", code=400, title="Bad request", message=str(exc)), 400


def _not_found(exc: NotFoundError):
    # Another partner's ids land here too: "not found" reveals nothing about them.
    return render_template("error.html", code=404, title="Not found", message=str(exc)), 404


def init_app(app: Flask) -> None:
    """Register the error pages."""
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(InvalidInput, _bad_input)
    app.register_error_handler(NotFoundError, _not_found)
    app.register_error_handler(HTTPException, _http_error)

"""What every request and response passes: ids in range, no control characters, safe headers."""

from __future__ import annotations

from flask import Flask, abort, request
from flask.wrappers import Response
from werkzeug.routing import BaseConverter, ValidationError

from billing_sync.validation import MAX_ID

# No inline script or style anywhere (web/static holds them), no framing, no plugins.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate CSP 2
    # Not no-referrer: Flask-WTF checks the Referer of HTTPS form posts against the host.
    "Referrer-Policy": "same-origin",
}
# NUL (which PostgreSQL refuses) and the other controls no form field or URL of ours carries;
# tab, CR and LF are left to the field rules.
FORM_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}
_FORBIDDEN = {chr(code) for code in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F)}


class IdConverter(BaseConverter):
    """`<id:name>`: ASCII digits from 1 to 2**31 - 1, else the URL matches nothing (404)."""

    regex = r"[0-9]{1,10}"
    weight = 50  # as specific as werkzeug's int converter

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 1 <= number <= MAX_ID:
            raise ValidationError
        return number

    def to_url(self, value: int) -> str:
        return str(int(value))


def _has_forbidden(*texts: str) -> bool:
    return any(not _FORBIDDEN.isdisjoint(text) for text in texts)


def _refuse_control_characters():
    fields = list(request.args.items(multi=True))
    names: list[str] = []
    # Only form bodies are read here: touching a JSON body would fix its size limit before the
    # API sets its own (web.api.security), and the API's schemas check JSON text themselves.
    if request.mimetype in FORM_TYPES:
        fields += request.form.items(multi=True)
        names = [file.filename or "" for _, file in request.files.items(multi=True)]
    if _has_forbidden(request.path, *(part for pair in fields for part in pair), *names):
        abort(400, description="The request holds a control character; nothing was changed.")


def _add_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.endpoint != "static":
        # Pages show a partner's data: no browser or proxy cache may keep them after sign-out.
        response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    """Register the id converter, the control-character check and the response headers."""
    app.url_map.converters["id"] = IdConverter
    app.before_request(_refuse_control_characters)
    app.after_request(_add_headers)

"""What every request passes: ids in range, no control characters."""

from __future__ import annotations

from flask import Flask, abort, request
from werkzeug.routing import BaseConverter, ValidationError

from billing_sync.validation import MAX_ID

# NUL (which PostgreSQL refuses) and the other controls no form field or URL of ours carries;
# tab, CR and LF are left to the field rules.
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
    fields = [*request.args.items(multi=True), *request.form.items(multi=True)]
    names = [file.filename or "" for _, file in request.files.items(multi=True)]
    if _has_forbidden(request.path, *(part for pair in fields for part in pair), *names):
        abort(400, description="The request holds a control character; nothing was changed.")


def init_app(app: Flask) -> None:
    """Register the id converter and the control-character check."""
    app.url_map.converters["id"] = IdConverter
    app.before_request(_refuse_control_characters)

"""ConnectWise-shaped API errors (`ErrorResponseMessage`)."""

from __future__ import annotations

from typing import Any


def field_error(resource: str, field: str, code: str, message: str) -> dict[str, str]:
    """One `ValidationError` entry of an error body."""
    return {"code": code, "message": message, "resource": resource, "field": field}


class ApiError(Exception):
    """An error answer: HTTP status plus CW's `{code, message, errors}` body."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors or []
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON body CW sends; `errors` only when there are field errors, as CW does."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.errors:
            body["errors"] = self.errors
        return body


def not_found(label: str, id: Any) -> ApiError:
    """404 for a missing record, worded like CW."""
    return ApiError(404, "NotFound", f"{label} recid {id} not found.")


def invalid(resource: str, errors: list[dict[str, str]]) -> ApiError:
    """400 for a body that fails validation, listing each field problem."""
    return ApiError(400, "InvalidObject", f"{resource} object is invalid", errors)

"""The HTTP layer under the client: session, retry policy and error mapping."""

from __future__ import annotations

import base64
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util.retry import Retry

from billing_sync import metrics
from billing_sync.connectwise.errors import (
    AuthenticationError,
    ConnectionFailed,
    ConnectWiseError,
    InvalidSite,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    ValidationFailed,
    WriteOutcomeUnknown,
)

ACCEPT = "application/vnd.connectwise.com+json; version=2025.8"
# Writes are never repeated here: a PATCH is repeated by the engine, only inside its write
# window (sync/writes.py), and a POST never (a create is not idempotent).
RETRY_METHODS = frozenset({"GET", "PUT"})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
RETRY_AFTER_CAP = 120.0  # seconds; a longer wait is better left to the next run

BAD_CREDENTIALS_404 = (
    "ConnectWise answered 404 to /system/info: on cloud, bad credentials come back as 404: "
    "check company id / keys / site"
)


class IdempotentRetry(Retry):
    """urllib3 Retry that never repeats a method outside `allowed_methods`, for any reason."""

    def increment(
        self, method: str | None = None, url: str | None = None, *args: Any, **kwargs: Any
    ) -> Retry:
        if method is not None and not self._is_method_retryable(method):
            # Stock Retry repeats connect errors for every method, POST included; exhaust now.
            return super(IdempotentRetry, self.new(total=0)).increment(method, url, *args, **kwargs)
        retry = super().increment(method, url, *args, **kwargs)  # raises when retries are spent
        response = kwargs.get("response", args[0] if args else None)
        if response is not None and response.status == 429:
            metrics.count_rate_limited()  # a 429 that is retried; the client counts the last one
        return retry

    def get_retry_after(self, response: Any) -> float | None:
        seconds = super().get_retry_after(response)
        return None if seconds is None else min(seconds, RETRY_AFTER_CAP)


def make_session(
    *,
    site: str,
    company_id: str,
    public_key: str,
    private_key: str,
    client_id: str,
    max_retries: int,
    backoff_factor: float,
    pool_size: int,
) -> requests.Session:
    """One session: auth and headers set once, retries on the adapter for idempotent calls."""
    session = requests.Session()
    # Proxy settings are read from the environment once here instead of on every request
    # (requests re-reads os.environ per call, a measurable cost at thousands of calls a run).
    session.trust_env = False
    session.proxies = requests.utils.get_environ_proxies(site)
    token = base64.b64encode(f"{company_id}+{public_key}:{private_key}".encode()).decode("ascii")
    session.headers.update(
        {"Authorization": f"Basic {token}", "clientId": client_id, "Accept": ACCEPT}
    )
    retry = IdempotentRetry(
        total=max_retries,
        connect=max_retries,
        read=max_retries,
        status=max_retries,
        other=0,
        allowed_methods=RETRY_METHODS,
        status_forcelist=RETRY_STATUSES,
        backoff_factor=backoff_factor,
        respect_retry_after_header=True,
        raise_on_status=False,  # hand back the last 429/5xx so it maps to RateLimited/ServerError
    )
    adapter = HTTPAdapter(max_retries=retry, pool_connections=pool_size, pool_maxsize=pool_size)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def error_for_exception(method: str, path: str, exc: requests.RequestException) -> ConnectWiseError:
    """A transport failure (after any retries) as a ConnectWise error."""
    reason = _reason(exc)
    if method == "POST" and not _never_sent(exc, reason):
        return WriteOutcomeUnknown(
            f"POST {path}: no answer from ConnectWise ({type(reason).__name__}); "
            "the addition may or may not have been created."
        )
    # Exhausted retries arrive as a plain ConnectionError; the urllib3 reason says what happened.
    if isinstance(reason, NewConnectionError):  # a subclass of the timeouts, so test it first
        kind = "could not connect"
    elif isinstance(exc, requests.Timeout) or isinstance(reason, Urllib3Timeout):
        kind = "timed out"
    else:
        kind = "connection failed"
    return ConnectionFailed(f"{method} {path}: {kind} ({type(reason).__name__}).")


def _reason(exc: requests.RequestException) -> BaseException:
    """The urllib3 error under a requests exception (unwrapping MaxRetryError)."""
    cause = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else exc
    return getattr(cause, "reason", None) or cause


def _never_sent(exc: requests.RequestException, reason: BaseException) -> bool:
    """True when the failure happened before any byte of the request left (connect phase)."""
    return isinstance(exc, requests.ConnectTimeout) or isinstance(
        reason, NewConnectionError | ConnectTimeoutError
    )


def error_for_response(method: str, path: str, response: requests.Response) -> ConnectWiseError:
    """A ConnectWise error for a 3xx/4xx/5xx answer, carrying CW's message."""
    status = response.status_code
    message, field_errors = _cw_message(response)
    where = f"{method} {path} -> {status}"
    kwargs: dict[str, Any] = {"status": status, "response": response}
    if 300 <= status < 400:
        location = response.headers.get("Location", "?")
        return InvalidSite(
            f"{where}: ConnectWise redirected to {location}.",
            **kwargs,
            advice="Enter the site ConnectWise redirects to (often https://).",
        )
    if status == 401:
        return AuthenticationError(f"{where}: credentials refused. {message}".strip(), **kwargs)
    if status == 403:
        return PermissionDenied(f"{where}: permission denied. {message}".strip(), **kwargs)
    if status == 404 and path == "/system/info":
        return AuthenticationError(BAD_CREDENTIALS_404, **kwargs)
    if status == 404:
        return NotFound(f"{where}: not found. {message}".strip(), **kwargs)
    if status == 400:
        details = "; ".join(field_errors)
        text = f"{where}: {message or 'invalid request'}" + (f" ({details})" if details else "")
        return ValidationFailed(text, field_errors=field_errors, **kwargs)
    if status == 429:
        return RateLimited(f"{where}: rate limited after every retry. {message}".strip(), **kwargs)
    if status >= 500:
        return ServerError(f"{where}: server error after every retry. {message}".strip(), **kwargs)
    return ConnectWiseError(f"{where}: {message or 'unexpected answer'}", **kwargs)


def _cw_message(response: requests.Response) -> tuple[str, tuple[str, ...]]:
    """CW's `message` and `errors[]` as "field: message" strings; a short text excerpt otherwise."""
    try:
        body = response.json()
    except ValueError:
        return " ".join(response.text.split())[:200], ()
    if not isinstance(body, dict):
        return "", ()
    errors = body.get("errors") or []
    field_errors = tuple(
        f"{e.get('field') or e.get('resource') or 'error'}: {e.get('message') or e.get('code')}"
        for e in errors
        if isinstance(e, dict)
    )
    return str(body.get("message") or body.get("code") or ""), field_errors


def json_rows(response: requests.Response) -> list[dict[str, Any]]:
    """The JSON list a list endpoint answers with."""
    body = json_body(response)
    if not isinstance(body, list):
        raise ConnectWiseError(f"ConnectWise sent {type(body).__name__} where a list was expected.")
    return body


def json_body(response: requests.Response) -> Any:
    """The JSON body; HTML or other text means the site is not a ConnectWise API."""
    try:
        return response.json()
    except ValueError:
        raise InvalidSite(
            f"{response.url} answered with something other than JSON; is the site right?",
            status=response.status_code,
            response=response,
        ) from None

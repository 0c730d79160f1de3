"""The HTTP layer under the client: session, retry policy and error mapping."""

from __future__ import annotations

import base64
import time
from typing import Any

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, SSLError
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util.retry import Retry

from billing_sync import metrics
from billing_sync.connectwise.deadline import Call, DeadlineAdapter, current_call
from billing_sync.connectwise.errors import (
    AuthenticationError,
    CertificateRefused,
    ConnectionFailed,
    ConnectWiseError,
    DeadlineExceeded,
    InvalidSite,
    NotFound,
    PermissionDenied,
    RateLimited,
    ResponseTooLarge,
    ServerError,
    ValidationFailed,
    WriteOutcomeUnknown,
)
from billing_sync.text import clip

ACCEPT = "application/vnd.connectwise.com+json; version=2025.8"
# Writes are never repeated here: a PATCH is repeated by the engine, only inside its write
# window (sync/writes.py), and a POST never (a create is not idempotent).
RETRY_METHODS = frozenset({"GET", "PUT"})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
RETRY_AFTER_CAP = 120.0  # seconds; a longer wait is better left to the next run
CHUNK_BYTES = 64 * 1024
MB = 2**20
CW_TEXT_CHARS = 500  # of ConnectWise's own message in an error we report
FIELD_ERRORS_SHOWN = 10

BAD_CREDENTIALS_404 = (
    "ConnectWise answered 404 to /system/info: on cloud, bad credentials come back as 404: "
    "check company id / keys / site"
)


class IdempotentRetry(Retry):
    """urllib3 Retry that never repeats a method outside `allowed_methods`, for any reason, and
    never waits or tries again past the current call's deadline."""

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
        call = current_call()
        if call is not None and call.remaining() <= retry.wait_before_next(kwargs.get("response")):
            # Waiting as asked would end past the deadline: give up now with the last answer.
            return super(IdempotentRetry, self.new(total=0)).increment(method, url, *args, **kwargs)
        return retry

    def wait_before_next(self, response: Any = None) -> float:
        """Seconds `sleep` waits: Retry-After (capped) when the answer has one, else backoff."""
        if response is not None and self.respect_retry_after_header:
            retry_after = self.get_retry_after(response)
            if retry_after:
                return retry_after
        return self.get_backoff_time()

    def sleep(self, response: Any = None) -> None:
        wait = self.wait_before_next(response)
        call = current_call()
        if call is not None:  # never sleep past the deadline (a slow drain may have used time)
            wait = min(wait, max(0.0, call.remaining()))
        if wait > 0:
            time.sleep(wait)

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
    adapter = DeadlineAdapter(max_retries=retry, pool_connections=pool_size, pool_maxsize=pool_size)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def read_body(response: requests.Response, method: str, path: str, limit: int, call: Call) -> None:
    """Read the whole body into `response` in chunks, stopping at `limit` bytes or the deadline.

    Bytes are counted after decompression, so a small gzip bomb stops at the limit too. Raises
    TimeoutError past the deadline (error_for_failure turns it into the caller's error).
    """
    declared = response.headers.get("Content-Length", "")
    body = bytearray()
    too_large = declared.isdigit() and int(declared) > limit
    if not too_large:
        for chunk in response.iter_content(CHUNK_BYTES):
            if len(body) + len(chunk) > limit:
                too_large = True
                break
            body += chunk
            if call.remaining() <= 0:
                break
    if too_large or past_deadline(call):
        response.close()  # the connection is dropped, never drained
    if past_deadline(call):  # even a body that "ended": the watchdog's shutdown looks like an end
        raise TimeoutError(f"{method} {path}: the deadline passed while reading the answer")
    if too_large:
        _refuse_large(response, method, path, limit)
        body = bytearray()  # an error status says enough without its body
    response._content = bytes(body)  # what requests itself stores once a body is read
    response._content_consumed = True


def _refuse_large(response: requests.Response, method: str, path: str, limit: int) -> None:
    if response.status_code >= 300:
        return
    text = (
        f"{method} {path}: the answer is larger than {limit / MB:g} MB "
        "(BILLING_SYNC_CW_MAX_BODY_MB); stopped reading it."
    )
    if method == "POST":
        raise WriteOutcomeUnknown(
            f"{text} The addition may have been created.", status=response.status_code
        )
    if method == "PATCH":
        advice = "The change may have reached ConnectWise; the next run reads the quantity back."
        raise WriteOutcomeUnknown(
            f"{text} It may have been applied.", advice=advice, status=response.status_code
        )
    raise ResponseTooLarge(text, status=response.status_code)


def past_deadline(call: Call) -> bool:
    """True once the call's deadline has passed (whether or not the watchdog fired yet)."""
    return call.expired or call.remaining() <= 0


def error_for_failure(
    method: str, path: str, exc: BaseException, call: Call, seconds: float
) -> ConnectWiseError | None:
    """A failed exchange as a ConnectWise error; None for an error that is no transport failure."""
    if past_deadline(call):
        allowed = f"{round(seconds, 1):g} s"
        if method == "POST" and call.sent:
            return WriteOutcomeUnknown(
                f"POST {path}: no complete answer within {allowed}; "
                "the addition may or may not have been created."
            )
        return DeadlineExceeded(
            f"{method} {path}: timed out: no complete answer within {allowed} "
            "(the total deadline of a call)."
        )
    if isinstance(exc, requests.RequestException):
        return error_for_exception(method, path, exc)
    return None


def error_for_exception(method: str, path: str, exc: requests.RequestException) -> ConnectWiseError:
    """A transport failure (after any retries) as a ConnectWise error."""
    reason = _reason(exc)
    if method == "POST" and not _never_sent(exc, reason):
        return WriteOutcomeUnknown(
            f"POST {path}: no answer from ConnectWise ({type(reason).__name__}); "
            "the addition may or may not have been created."
        )
    if isinstance(exc, requests.exceptions.SSLError) or isinstance(reason, SSLError):
        return CertificateRefused(f"{method} {path}: TLS failed: {_tls_problem(reason)}.")
    # Exhausted retries arrive as a plain ConnectionError; the urllib3 reason says what happened.
    if isinstance(reason, NewConnectionError):  # a subclass of the timeouts, so test it first
        kind = "could not connect"
    elif isinstance(exc, requests.Timeout) or isinstance(reason, Urllib3Timeout):
        kind = "timed out"
    else:
        kind = "connection failed"
    return ConnectionFailed(f"{method} {path}: {kind} ({type(reason).__name__}).")


def _tls_problem(reason: BaseException) -> str:
    """What TLS refused, in words: the certificate check's own message when there is one."""
    cause: BaseException | None = reason
    for _ in range(5):  # urllib3 wraps ssl's error once or twice; never follow a cycle
        if cause is None:
            break
        verify = getattr(cause, "verify_message", None)
        if verify:
            return f"certificate not accepted ({verify})"
        wrapped = cause.args[0] if cause.args and isinstance(cause.args[0], BaseException) else None
        cause = wrapped or cause.__context__
    return f"secure connection failed ({clip(str(reason), 200)})"


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
        return " ".join(response.text[: CW_TEXT_CHARS * 4].split())[:200], ()
    if not isinstance(body, dict):
        return "", ()
    errors = body.get("errors")
    field_errors = tuple(
        _field_error(e)
        for e in (errors if isinstance(errors, list) else [])[:FIELD_ERRORS_SHOWN]
        if isinstance(e, dict)
    )
    return clip(str(body.get("message") or body.get("code") or ""), CW_TEXT_CHARS), field_errors


def _field_error(error: dict) -> str:
    where = error.get("field") or error.get("resource") or "error"
    return clip(f"{where}: {error.get('message') or error.get('code')}", CW_TEXT_CHARS)


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

"""Failed sign-ins throttled by Flask-Limiter, per account and per client address."""

from __future__ import annotations

import hashlib
import math
import time

from flask import Flask, request
from flask.wrappers import Response
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from billing_sync.settings import Settings, check_ratelimit_storage_url, parse_login_rate

LOGIN_ENDPOINT = "auth.login"
KEY_PREFIX = "billing-sync"  # keeps our counts apart in a Redis other services share
# A shared storage that stops answering costs a sign-in two seconds, not a hung request.
REDIS_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 2}


def account_key() -> str:
    """The account a sign-in names: a digest of the case-folded e-mail, known or not."""
    # A digest keeps the key short whatever is typed and keeps e-mail addresses out of the store.
    email = request.form.get("email", "").strip().casefold()
    return hashlib.sha256(email.encode()).hexdigest()


def _failed(response: Response) -> bool:
    return response.status_code == 401  # only a wrong e-mail or password counts


def init_app(app: Flask, settings: Settings) -> Limiter:
    """Refuse sign-in (429) after too many failures for one account or from one address.

    Each key may fail settings.login_rate_limit times; only failed attempts (a 401 answer)
    count, and while either count is full even the right password is refused. Counts live in
    settings.ratelimit_storage_url. The login view must already be registered.
    """
    count, seconds = parse_login_rate(settings.login_rate_limit)
    url = check_ratelimit_storage_url(settings.ratelimit_storage_url)
    shared = not url.startswith("memory:")
    limiter = Limiter(
        get_remote_address,
        storage_uri=url,
        storage_options=REDIS_OPTIONS if shared else {},
        strategy="moving-window",  # "N failures in the last M minutes", as the setting reads
        key_prefix=KEY_PREFIX,
        fail_on_first_breach=False,  # test both keys, so Retry-After covers the later one
        in_memory_fallback_enabled=shared,  # a storage outage throttles per process, not 500s
        headers_enabled=False,  # Retry-After goes on the lockout page only
    )
    limiter.init_app(app)
    view = app.view_functions[LOGIN_ENDPOINT]
    for key_func, scope in ((account_key, "account"), (get_remote_address, "address")):
        view = limiter.limit(
            f"{count} per {seconds} seconds",
            key_func=key_func,
            scope=scope,
            methods=["POST"],
            deduct_when=_failed,
        )(view)
    app.view_functions[LOGIN_ENDPOINT] = view
    return limiter


def retry_after(limiter: Limiter) -> int:
    """Whole seconds until every limit this request broke has room again (at least 1)."""
    resets = [limit.window.reset_time for limit in limiter.current_limits if limit.breached]
    return max(1, math.ceil(max(resets, default=0.0) - time.time()))

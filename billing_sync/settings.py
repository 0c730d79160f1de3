"""Settings read from BILLING_SYNC_* environment variables, built once by the caller."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from billing_sync.errors import BillingSyncError

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smh])\s*$")
_RATE_UNITS = {"s": 1, "m": 60, "h": 3600}
_API_RATE = re.compile(
    r"^\s*([1-9]\d*)\s*(?:/|per)\s*(?:[1-9]\d*\s*)?(second|minute|hour|day)s?\s*$", re.I
)
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}
_STORAGE_SCHEMES = {"memory", "redis", "rediss", "redis+unix"}
_REDIS_SCHEMES = {"redis", "rediss", "unix"}
LOG_FORMATS = ("text", "json")
_USERINFO = re.compile(r"//[^/@]*@")


class MissingSecretError(RuntimeError):
    """BILLING_SYNC_SECRET_KEY is needed for this command and is not set."""


class SettingsError(BillingSyncError, ValueError):
    """A BILLING_SYNC_* variable holds a value the service cannot use; the message names it."""


def _bad(name: str, expected: str, raw: str) -> SettingsError:
    return SettingsError(f"{name} must be {expected}, got {raw!r}")


def _raw(env: Mapping[str, str], name: str) -> str | None:
    # An empty value means "not set", as it does for the text settings.
    value = env.get(name)
    return None if value is None or value.strip() == "" else value.strip()


def _whole(env: Mapping[str, str], name: str, default: int, low: int, high: int | None) -> int:
    raw = _raw(env, name)
    if raw is None:
        return default
    bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"
    expected = f"a whole number {bounds}"
    try:
        value = int(raw)
    except ValueError:
        raise _bad(name, expected, raw) from None
    if value < low or (high is not None and value > high):
        raise _bad(name, expected, raw)
    return value


def _seconds(
    env: Mapping[str, str], name: str, default: float, *, allow_zero: bool = False
) -> float:
    raw = _raw(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    lowest_ok = value >= 0 if allow_zero else value > 0
    if not (lowest_ok and value < float("inf")):  # also refuses nan and inf
        expected = "0 or more" if allow_zero else "greater than 0"
        raise _bad(name, f"a number of seconds {expected}", raw)
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _raw(env, name)
    if raw is None:
        return default
    if raw.lower() not in _TRUE | _FALSE:
        raise _bad(name, "one of 1/0, true/false, yes/no, on/off", raw)
    return raw.lower() in _TRUE


def _clock(env: Mapping[str, str], name: str, default: str) -> str:
    raw = _raw(env, name)
    if raw is None:
        return default
    if not _HHMM.match(raw):
        raise _bad(name, "a 24-hour time HH:MM, e.g. 00:15", raw)
    return raw


def parse_login_rate(text: str) -> tuple[int, int]:
    """BILLING_SYNC_LOGIN_RATE_LIMIT's form: "10/5m" -> (10 attempts, 300 seconds)."""
    match = _RATE.match(text)
    count, span = (int(match.group(1)), int(match.group(2) or 1)) if match else (0, 0)
    if count < 1 or span < 1:
        expected = "attempts/period such as 10/5m (period in s, m or h)"
        raise _bad("BILLING_SYNC_LOGIN_RATE_LIMIT", expected, text)
    return count, span * _RATE_UNITS[match.group(3)]


def _login_rate(env: Mapping[str, str], name: str, default: str) -> str:
    raw = _raw(env, name)
    if raw is None:
        return default
    parse_login_rate(raw)
    return raw


def _api_rate(env: Mapping[str, str], name: str, default: str) -> str:
    """Requests per period in Flask-Limiter's words: 600/minute, 100 per 10 seconds."""
    raw = _raw(env, name)
    if raw is None:
        return default
    if not _API_RATE.match(raw):
        raise _bad(name, "requests per period such as 600/minute or 100 per 10 seconds", raw)
    return raw


def check_ratelimit_storage_url(url: str) -> str:
    """BILLING_SYNC_RATELIMIT_STORAGE_URL's form: memory:// or a Redis URL; returns it."""
    scheme, separator, _ = url.partition("://")
    if not separator or scheme.lower() not in _STORAGE_SCHEMES:
        shown = _USERINFO.sub("//***@", url)  # never echo a password
        expected = "memory:// or a Redis URL such as redis://127.0.0.1:6379/0"
        raise _bad("BILLING_SYNC_RATELIMIT_STORAGE_URL", expected, shown)
    return url


def _storage_url(env: Mapping[str, str], name: str, default: str) -> str:
    raw = _raw(env, name)
    return default if raw is None else check_ratelimit_storage_url(raw)


def _redis_url(env: Mapping[str, str], name: str) -> str | None:
    raw = _raw(env, name)
    if raw is None:
        return None
    scheme, separator, _ = raw.partition("://")
    if not separator or scheme.lower() not in _REDIS_SCHEMES:
        shown = _USERINFO.sub("//***@", raw)  # never echo a password
        raise _bad(name, "a Redis URL such as redis://127.0.0.1:6379/0", shown)
    return raw


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = _raw(env, name)
    if raw is None:
        return default
    if raw.lower() not in choices:
        raise _bad(name, f"one of {', '.join(choices)}", raw)
    return raw.lower()


def _folder(env: Mapping[str, str], name: str) -> Path | None:
    raw = _raw(env, name)
    return None if raw is None else Path(raw).resolve()


@dataclass(frozen=True)
class Settings:
    """Everything configurable; see config/billing-sync.env.example for each variable."""

    database_url: str
    secret_key: str | None = field(default=None, repr=False)
    allow_private_hosts: bool = False
    instance_path: Path = Path("instance")
    sync_concurrency: int = 4
    lease_seconds: int = 300
    cw_timeout_seconds: float = 30.0
    cw_page_timeout_seconds: float = 8.0
    cw_max_retries: int = 4
    cw_max_pages: int = 50
    cw_max_body_mb: int = 20
    run_deadline_seconds: float = 3600.0
    settle_margin_seconds: float = 30.0
    scheduler_enabled: bool = True
    scheduler_tick_seconds: float = 5.0
    month_close_at: str = "00:15"
    session_cookie_secure: bool = False
    session_hours: int = 12
    login_rate_limit: str = "10/5m"
    ratelimit_storage_url: str = field(default="memory://", repr=False)
    api_max_body_mb: int = 10
    api_rate_limit: str = "600/minute"
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_from: str = "billing-sync@localhost"
    smtp_starttls: bool = False
    # Fleet: unset redis_url = embedded (runs in threads of the web/scheduler process).
    redis_url: str | None = field(default=None, repr=False)
    job_timeout_seconds: int = 3600
    job_queued_ttl_seconds: int = 1800
    job_result_ttl_seconds: int = 86400
    job_failure_ttl_seconds: int = 7 * 86400
    metrics_dir: Path | None = None
    log_format: str = "text"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from the environment (or a mapping standing in for it).

        Raises SettingsError naming the first variable whose value cannot be used.
        """
        env = os.environ if env is None else env
        instance = Path(env.get("BILLING_SYNC_INSTANCE_PATH", "instance")).resolve()
        default_db = f"sqlite:///{instance / 'billing-sync.sqlite3'}"
        return cls(
            database_url=env.get("BILLING_SYNC_DATABASE_URL") or default_db,
            secret_key=env.get("BILLING_SYNC_SECRET_KEY") or None,
            allow_private_hosts=_flag(env, "BILLING_SYNC_ALLOW_PRIVATE_HOSTS", False),
            instance_path=instance,
            sync_concurrency=_whole(env, "BILLING_SYNC_CONCURRENCY", 4, 1, 64),
            # 2 s is the shortest lease its renewal (every third of it) keeps alive with slack;
            # tests and chaos trials use short leases so killed runs are taken over quickly.
            lease_seconds=_whole(env, "BILLING_SYNC_LEASE_SECONDS", 300, 2, None),
            cw_timeout_seconds=_seconds(env, "BILLING_SYNC_CW_TIMEOUT", 30.0),
            cw_page_timeout_seconds=_seconds(env, "BILLING_SYNC_CW_PAGE_TIMEOUT", 8.0),
            cw_max_retries=_whole(env, "BILLING_SYNC_CW_RETRIES", 4, 0, 10),
            cw_max_pages=_whole(env, "BILLING_SYNC_CW_MAX_PAGES", 50, 1, 10_000),
            cw_max_body_mb=_whole(env, "BILLING_SYNC_CW_MAX_BODY_MB", 20, 1, 1024),
            run_deadline_seconds=_seconds(env, "BILLING_SYNC_RUN_DEADLINE", 3600.0),
            settle_margin_seconds=_seconds(
                env, "BILLING_SYNC_SETTLE_MARGIN", 30.0, allow_zero=True
            ),
            scheduler_enabled=_flag(env, "BILLING_SYNC_SCHEDULER", True),
            scheduler_tick_seconds=_seconds(env, "BILLING_SYNC_SCHEDULER_TICK", 5.0),
            month_close_at=_clock(env, "BILLING_SYNC_MONTH_CLOSE_AT", "00:15"),
            session_cookie_secure=_flag(env, "BILLING_SYNC_SECURE_COOKIES", False),
            session_hours=_whole(env, "BILLING_SYNC_SESSION_HOURS", 12, 1, 720),
            login_rate_limit=_login_rate(env, "BILLING_SYNC_LOGIN_RATE_LIMIT", "10/5m"),
            ratelimit_storage_url=_storage_url(
                env, "BILLING_SYNC_RATELIMIT_STORAGE_URL", "memory://"
            ),
            api_max_body_mb=_whole(env, "BILLING_SYNC_API_MAX_BODY_MB", 10, 1, 1024),
            api_rate_limit=_api_rate(env, "BILLING_SYNC_API_RATE_LIMIT", "600/minute"),
            smtp_host=env.get("BILLING_SYNC_SMTP_HOST") or None,
            smtp_port=_whole(env, "BILLING_SYNC_SMTP_PORT", 25, 1, 65535),
            smtp_user=env.get("BILLING_SYNC_SMTP_USER") or None,
            smtp_password=env.get("BILLING_SYNC_SMTP_PASSWORD") or None,
            smtp_from=env.get("BILLING_SYNC_SMTP_FROM", "billing-sync@localhost"),
            smtp_starttls=_flag(env, "BILLING_SYNC_SMTP_STARTTLS", False),
            redis_url=_redis_url(env, "BILLING_SYNC_REDIS_URL"),
            job_timeout_seconds=_whole(env, "BILLING_SYNC_JOB_TIMEOUT", 3600, 10, None),
            job_queued_ttl_seconds=_whole(env, "BILLING_SYNC_JOB_QUEUED_TTL", 1800, 10, None),
            job_result_ttl_seconds=_whole(env, "BILLING_SYNC_JOB_RESULT_TTL", 86400, 0, None),
            job_failure_ttl_seconds=_whole(
                env, "BILLING_SYNC_JOB_FAILURE_TTL", 7 * 86400, 60, None
            ),
            metrics_dir=_folder(env, "BILLING_SYNC_METRICS_DIR"),
            log_format=_choice(env, "BILLING_SYNC_LOG_FORMAT", "text", LOG_FORMATS),
        )

    @property
    def month_close_stuck_after(self) -> timedelta:
        """A month close due, queued or running this long without an end is reported stuck."""
        return timedelta(seconds=self.job_timeout_seconds)

    def require_secret(self) -> str:
        """Return the secret key or fail fast with a message saying how to set it."""
        if not self.secret_key:
            raise MissingSecretError(
                "BILLING_SYNC_SECRET_KEY is not set; set it to a long random string "
                "(it encrypts stored ConnectWise private keys and signs web sessions)"
            )
        return self.secret_key

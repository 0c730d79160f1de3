"""Settings read from BILLING_SYNC_* environment variables, built once by the caller."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


class MissingSecretError(RuntimeError):
    """BILLING_SYNC_SECRET_KEY is needed for this command and is not set."""


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


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
    cw_max_retries: int = 4
    settle_margin_seconds: float = 30.0
    scheduler_enabled: bool = True
    scheduler_tick_seconds: float = 5.0
    month_close_at: str = "00:15"
    session_cookie_secure: bool = False
    login_rate_limit: str = "10/5m"
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_from: str = "billing-sync@localhost"
    smtp_starttls: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from the environment (or a mapping standing in for it)."""
        env = os.environ if env is None else env
        instance = Path(env.get("BILLING_SYNC_INSTANCE_PATH", "instance")).resolve()
        default_db = f"sqlite:///{instance / 'billing-sync.sqlite3'}"
        return cls(
            database_url=env.get("BILLING_SYNC_DATABASE_URL") or default_db,
            secret_key=env.get("BILLING_SYNC_SECRET_KEY") or None,
            allow_private_hosts=_flag(env.get("BILLING_SYNC_ALLOW_PRIVATE_HOSTS"), False),
            instance_path=instance,
            sync_concurrency=int(env.get("BILLING_SYNC_CONCURRENCY", "4")),
            lease_seconds=int(env.get("BILLING_SYNC_LEASE_SECONDS", "300")),
            cw_timeout_seconds=float(env.get("BILLING_SYNC_CW_TIMEOUT", "30")),
            cw_max_retries=int(env.get("BILLING_SYNC_CW_RETRIES", "4")),
            settle_margin_seconds=float(env.get("BILLING_SYNC_SETTLE_MARGIN", "30")),
            scheduler_enabled=_flag(env.get("BILLING_SYNC_SCHEDULER"), True),
            scheduler_tick_seconds=float(env.get("BILLING_SYNC_SCHEDULER_TICK", "5")),
            month_close_at=env.get("BILLING_SYNC_MONTH_CLOSE_AT", "00:15"),
            session_cookie_secure=_flag(env.get("BILLING_SYNC_SECURE_COOKIES"), False),
            login_rate_limit=env.get("BILLING_SYNC_LOGIN_RATE_LIMIT", "10/5m"),
            smtp_host=env.get("BILLING_SYNC_SMTP_HOST") or None,
            smtp_port=int(env.get("BILLING_SYNC_SMTP_PORT", "25")),
            smtp_user=env.get("BILLING_SYNC_SMTP_USER") or None,
            smtp_password=env.get("BILLING_SYNC_SMTP_PASSWORD") or None,
            smtp_from=env.get("BILLING_SYNC_SMTP_FROM", "billing-sync@localhost"),
            smtp_starttls=_flag(env.get("BILLING_SYNC_SMTP_STARTTLS"), False),
        )

    def require_secret(self) -> str:
        """Return the secret key or fail fast with a message saying how to set it."""
        if not self.secret_key:
            raise MissingSecretError(
                "BILLING_SYNC_SECRET_KEY is not set; set it to a long random string "
                "(it encrypts stored ConnectWise private keys and signs web sessions)"
            )
        return self.secret_key

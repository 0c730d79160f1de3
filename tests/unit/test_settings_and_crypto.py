"""Settings from the environment and private-key encryption at rest."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from billing_sync.crypto import SecretDecryptError, decrypt_secret, encrypt_secret, key_hint
from billing_sync.settings import MissingSecretError, Settings, SettingsError

ROOT = Path(__file__).resolve().parents[2]
CLOCK = "a 24-hour time HH:MM, e.g. 00:15"
RATE = "attempts/period such as 10/5m (period in s, m or h)"
FLAG = "one of 1/0, true/false, yes/no, on/off"
STORAGE = "memory:// or a Redis URL such as redis://127.0.0.1:6379/0"
API_RATE = "requests per period such as 600/minute or 100 per 10 seconds"


def test_defaults_need_no_environment(tmp_path):
    settings = Settings.from_env({"BILLING_SYNC_INSTANCE_PATH": str(tmp_path)})

    assert settings.database_url == f"sqlite:///{tmp_path / 'billing-sync.sqlite3'}"
    assert (settings.allow_private_hosts, settings.sync_concurrency) == (False, 4)
    with pytest.raises(MissingSecretError, match="BILLING_SYNC_SECRET_KEY"):
        settings.require_secret()


def test_values_come_from_the_environment():
    settings = Settings.from_env(
        {
            "BILLING_SYNC_DATABASE_URL": "postgresql+psycopg://db/x",
            "BILLING_SYNC_SECRET_KEY": "s3cret",
            "BILLING_SYNC_ALLOW_PRIVATE_HOSTS": "1",
            "BILLING_SYNC_CONCURRENCY": "8",
            "BILLING_SYNC_SCHEDULER": "off",
        }
    )

    assert settings.database_url == "postgresql+psycopg://db/x"
    assert settings.require_secret() == "s3cret"
    assert (settings.allow_private_hosts, settings.sync_concurrency) == (True, 8)
    assert settings.scheduler_enabled is False
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize(
    "name, value, expected",
    [
        ("BILLING_SYNC_CONCURRENCY", "abc", "a whole number from 1 to 64"),
        ("BILLING_SYNC_CONCURRENCY", "0", "a whole number from 1 to 64"),
        ("BILLING_SYNC_CONCURRENCY", "65", "a whole number from 1 to 64"),
        ("BILLING_SYNC_CONCURRENCY", "2.5", "a whole number from 1 to 64"),
        ("BILLING_SYNC_LEASE_SECONDS", "1", "a whole number of at least 2"),
        ("BILLING_SYNC_LEASE_SECONDS", "5m", "a whole number of at least 2"),
        ("BILLING_SYNC_CW_TIMEOUT", "0", "a number of seconds greater than 0"),
        ("BILLING_SYNC_CW_TIMEOUT", "-1.5", "a number of seconds greater than 0"),
        ("BILLING_SYNC_CW_TIMEOUT", "nan", "a number of seconds greater than 0"),
        ("BILLING_SYNC_CW_TIMEOUT", "30s", "a number of seconds greater than 0"),
        ("BILLING_SYNC_CW_RETRIES", "11", "a whole number from 0 to 10"),
        ("BILLING_SYNC_CW_RETRIES", "-1", "a whole number from 0 to 10"),
        ("BILLING_SYNC_CW_PAGE_TIMEOUT", "0", "a number of seconds greater than 0"),
        ("BILLING_SYNC_CW_MAX_PAGES", "0", "a whole number from 1 to 10000"),
        ("BILLING_SYNC_CW_MAX_BODY_MB", "0.5", "a whole number from 1 to 1024"),
        ("BILLING_SYNC_RUN_DEADLINE", "1h", "a number of seconds greater than 0"),
        ("BILLING_SYNC_SCHEDULER_TICK", "0", "a number of seconds greater than 0"),
        ("BILLING_SYNC_SCHEDULER_TICK", "inf", "a number of seconds greater than 0"),
        ("BILLING_SYNC_SMTP_PORT", "0", "a whole number from 1 to 65535"),
        ("BILLING_SYNC_SMTP_PORT", "65536", "a whole number from 1 to 65535"),
        ("BILLING_SYNC_MONTH_CLOSE_AT", "24:00", CLOCK),
        ("BILLING_SYNC_MONTH_CLOSE_AT", "0:15", CLOCK),
        ("BILLING_SYNC_MONTH_CLOSE_AT", "midnight", CLOCK),
        ("BILLING_SYNC_LOGIN_RATE_LIMIT", "10 per 5 minutes", RATE),
        ("BILLING_SYNC_LOGIN_RATE_LIMIT", "0/5m", RATE),
        ("BILLING_SYNC_LOGIN_RATE_LIMIT", "10/0m", RATE),
        ("BILLING_SYNC_ALLOW_PRIVATE_HOSTS", "maybe", FLAG),
        ("BILLING_SYNC_SCHEDULER", "2", FLAG),
        ("BILLING_SYNC_SECURE_COOKIES", "enabled", FLAG),
        ("BILLING_SYNC_SMTP_STARTTLS", "y", FLAG),
        ("BILLING_SYNC_RATELIMIT_STORAGE_URL", "127.0.0.1:6379", STORAGE),
        ("BILLING_SYNC_RATELIMIT_STORAGE_URL", "memcached://cache:11211", STORAGE),
        ("BILLING_SYNC_API_MAX_BODY_MB", "0", "a whole number from 1 to 1024"),
        ("BILLING_SYNC_API_MAX_BODY_MB", "10MB", "a whole number from 1 to 1024"),
        ("BILLING_SYNC_API_RATE_LIMIT", "lots", API_RATE),
        ("BILLING_SYNC_API_RATE_LIMIT", "0/minute", API_RATE),
        ("BILLING_SYNC_API_RATE_LIMIT", "600/fortnight", API_RATE),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable_the_form_and_the_value(name, value, expected):
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({name: value})

    assert str(raised.value) == f"{name} must be {expected}, got {value!r}"


@pytest.mark.parametrize(
    "name, value, field, parsed",
    [
        ("BILLING_SYNC_CONCURRENCY", " 64 ", "sync_concurrency", 64),
        ("BILLING_SYNC_CONCURRENCY", "", "sync_concurrency", 4),  # empty means the default
        ("BILLING_SYNC_LEASE_SECONDS", "2", "lease_seconds", 2),
        ("BILLING_SYNC_CW_TIMEOUT", "2.5", "cw_timeout_seconds", 2.5),
        ("BILLING_SYNC_CW_RETRIES", "0", "cw_max_retries", 0),
        ("BILLING_SYNC_CW_PAGE_TIMEOUT", "", "cw_page_timeout_seconds", 8.0),
        ("BILLING_SYNC_CW_MAX_PAGES", "", "cw_max_pages", 50),
        ("BILLING_SYNC_CW_MAX_BODY_MB", "", "cw_max_body_mb", 20),
        ("BILLING_SYNC_RUN_DEADLINE", "", "run_deadline_seconds", 3600.0),
        ("BILLING_SYNC_RUN_DEADLINE", "900", "run_deadline_seconds", 900.0),
        ("BILLING_SYNC_SCHEDULER_TICK", "0.5", "scheduler_tick_seconds", 0.5),
        ("BILLING_SYNC_SMTP_PORT", "587", "smtp_port", 587),
        ("BILLING_SYNC_MONTH_CLOSE_AT", "23:59", "month_close_at", "23:59"),
        ("BILLING_SYNC_LOGIN_RATE_LIMIT", "5/h", "login_rate_limit", "5/h"),
        ("BILLING_SYNC_API_MAX_BODY_MB", "", "api_max_body_mb", 10),
        ("BILLING_SYNC_API_MAX_BODY_MB", "25", "api_max_body_mb", 25),
        ("BILLING_SYNC_API_RATE_LIMIT", "", "api_rate_limit", "600/minute"),
        (
            "BILLING_SYNC_API_RATE_LIMIT",
            "100 per 10 seconds",
            "api_rate_limit",
            "100 per 10 seconds",
        ),
        ("BILLING_SYNC_SECURE_COOKIES", "Yes", "session_cookie_secure", True),
        ("BILLING_SYNC_SCHEDULER", "OFF", "scheduler_enabled", False),
        ("BILLING_SYNC_SMTP_STARTTLS", "true", "smtp_starttls", True),
        ("BILLING_SYNC_ALLOW_PRIVATE_HOSTS", "0", "allow_private_hosts", False),
        ("BILLING_SYNC_RATELIMIT_STORAGE_URL", "", "ratelimit_storage_url", "memory://"),
        (
            "BILLING_SYNC_RATELIMIT_STORAGE_URL",
            "redis://r:6379/2",
            "ratelimit_storage_url",
            "redis://r:6379/2",
        ),
    ],
)
def test_good_values_parse_to_their_meaning(name, value, field, parsed):
    assert getattr(Settings.from_env({name: value}), field) == parsed


def test_every_setting_is_documented_in_the_example_env_file():
    source = (ROOT / "billing_sync" / "settings.py").read_text()
    example = (ROOT / "config" / "billing-sync.env.example").read_text()

    names = set(re.findall(r'"(BILLING_SYNC_\w+)"', source))

    assert names and all(f"\n{name}=" in example for name in names)


def test_private_keys_round_trip_and_are_not_stored_in_clear():
    token = encrypt_secret("secret-one", "my-private-key-1a2b")

    assert "my-private-key" not in token
    assert decrypt_secret("secret-one", token) == "my-private-key-1a2b"
    assert key_hint("my-private-key-1a2b") == "1a2b"


def test_a_changed_secret_key_is_reported_not_guessed_around():
    token = encrypt_secret("secret-one", "my-private-key")

    with pytest.raises(SecretDecryptError, match="enter the private key again"):
        decrypt_secret("secret-two", token)

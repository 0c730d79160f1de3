"""Settings from the environment and private-key encryption at rest."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from billing_sync.crypto import SecretDecryptError, decrypt_secret, encrypt_secret, key_hint
from billing_sync.settings import MissingSecretError, Settings

ROOT = Path(__file__).resolve().parents[2]


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

"""The fleet's settings: parsed by the shared helpers, naming a bad variable, never a password."""

from __future__ import annotations

from pathlib import Path

import pytest

from billing_sync.settings import Settings, SettingsError


def test_defaults_keep_the_embedded_layout():
    settings = Settings.from_env({})

    assert settings.redis_url is None and settings.metrics_dir is None
    assert settings.log_format == "text"
    assert (
        settings.job_timeout_seconds,
        settings.job_queued_ttl_seconds,
        settings.job_result_ttl_seconds,
        settings.job_failure_ttl_seconds,
    ) == (3600, 1800, 86400, 604800)


def test_fleet_values_come_from_the_environment(tmp_path):
    settings = Settings.from_env(
        {
            "BILLING_SYNC_REDIS_URL": "rediss://:pw@redis.internal:6380/2",
            "BILLING_SYNC_JOB_TIMEOUT": "600",
            "BILLING_SYNC_JOB_QUEUED_TTL": "300",
            "BILLING_SYNC_JOB_RESULT_TTL": "0",
            "BILLING_SYNC_JOB_FAILURE_TTL": "3600",
            "BILLING_SYNC_METRICS_DIR": str(tmp_path / "m"),
            "BILLING_SYNC_LOG_FORMAT": "JSON",
        }
    )

    assert settings.redis_url == "rediss://:pw@redis.internal:6380/2"
    assert "pw" not in repr(settings)
    assert (settings.job_timeout_seconds, settings.job_queued_ttl_seconds) == (600, 300)
    assert (settings.job_result_ttl_seconds, settings.job_failure_ttl_seconds) == (0, 3600)
    assert settings.metrics_dir == Path(tmp_path / "m") and settings.log_format == "json"


@pytest.mark.parametrize(
    "name, value, expected",
    [
        (
            "BILLING_SYNC_REDIS_URL",
            "http://u:secret@r:6379",
            "a Redis URL such as redis://127.0.0.1:6379/0, got 'http://***@r:6379'",
        ),
        ("BILLING_SYNC_JOB_TIMEOUT", "5", "a whole number of at least 10, got '5'"),
        ("BILLING_SYNC_JOB_QUEUED_TTL", "soon", "a whole number of at least 10, got 'soon'"),
        ("BILLING_SYNC_JOB_FAILURE_TTL", "10", "a whole number of at least 60, got '10'"),
        ("BILLING_SYNC_LOG_FORMAT", "xml", "one of text, json, got 'xml'"),
    ],
)
def test_a_bad_fleet_value_is_refused_naming_the_variable(name, value, expected):
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({name: value})

    assert str(raised.value) == f"{name} must be {expected}"

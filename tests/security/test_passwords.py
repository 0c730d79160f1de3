"""Passwords: at least 12 characters and not one of the most common (padding does not help)."""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from billing_sync.errors import InvalidInput
from billing_sync.models import User
from billing_sync.passwords import check_password, common_passwords
from tests.conftest import TEST_SECRET

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "password, reason",
    [
        ("password", "at least 12 characters"),
        ("12345678", "at least 12 characters"),
        ("short pass", "at least 12 characters"),
        ("password1234", "most common passwords"),
        ("123456789012", "most common passwords"),
        ("qwerty123456", "most common passwords"),
        ("P@ssw0rd2024!", "most common passwords"),
        ("!!dragon!!2024", "most common passwords"),
        ("ILOVEYOU2024", "most common passwords"),
        ("aaaaaaaaaaaaaaaa", "too few different characters"),
        ("abababababab", "too few different characters"),
        ("x" * 1025, "at most 1024 characters"),
        ("good enough\x1b[2J phrase", "control characters"),
    ],
)
def test_weak_passwords_are_refused_saying_why(password, reason):
    with pytest.raises(InvalidInput, match=reason):
        check_password(password)


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery",
        "Tr0ub4dor&3xk",
        "benchmark-password",
        "släpvagn i morgon",
        "😀" * 3 + "zyxwvu98765",
    ],
)
def test_long_uncommon_passwords_are_accepted(password):
    check_password(password)


def test_the_list_ships_inside_the_package():
    common = common_passwords()
    assert len(common) == 10_000
    assert {"123456", "password", "qwerty", "iloveyou"} <= common
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    assert "data/*.txt" in config["options.package_data"]["billing_sync"]


def _cli(settings, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "BILLING_SYNC_DATABASE_URL": settings.database_url,
        "BILLING_SYNC_SECRET_KEY": TEST_SECRET,
    }
    return subprocess.run(
        [sys.executable, "-m", "billing_sync.cli", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_user_create_refuses_a_weak_password_with_one_line_and_exit_1(settings, session_factory):
    assert _cli(settings, "init-db").returncode == 0
    assert _cli(settings, "partner", "create", "msp1").returncode == 0

    for weak in ("password", "12345678", "password1234"):
        result = _cli(settings, "user", "create", "msp1", "a@msp1.test", stdin=f"{weak}\n")
        assert result.returncode == 1
        assert result.stderr.startswith("error: password ") and result.stderr.count("\n") == 1
    with session_factory() as session:
        assert session.scalar(select(User)) is None

    result = _cli(
        settings, "user", "create", "msp1", "a@msp1.test", stdin="correct horse battery\n"
    )
    assert result.returncode == 0, result.stderr

"""The CLI refuses hostile arguments with one line and exit 1, and never prints a control raw."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from billing_sync.models import Company, Partner
from tests.conftest import TEST_SECRET

ROOT = Path(__file__).resolve().parents[2]
ESC_NAME = "Acme \x1b]0;owned\x07\x1b[2J\x9b31m Dental\nfake line"


@pytest.fixture
def cli(settings):
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "BILLING_SYNC_DATABASE_URL": settings.database_url,
        "BILLING_SYNC_SECRET_KEY": TEST_SECRET,
    }

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "billing_sync.cli", *args],
            cwd=ROOT,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert run("init-db").returncode == 0
    assert run("partner", "create", "msp1").returncode == 0
    return run


def _one_line_error(result: subprocess.CompletedProcess, fragment: str) -> None:
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr
    assert not any(char in result.stderr for char in "\x00\x07\x1b\x9b")


@pytest.mark.parametrize(
    "args, fragment",
    [
        (
            ("companies", "map", "msp1", "x", "--cw-company-id", str(2**63), "--agreement-id", "1"),
            "--cw-company-id must be a whole number from 1 to 2147483647",
        ),
        (
            ("companies", "map", "msp1", "x", "--cw-company-id", "1", "--agreement-id", "\u00b2"),
            "--agreement-id must be a whole number",
        ),
        (("products", "map", "msp1", "x", "--cw-product-id", "0"), "--cw-product-id must be"),
        (("partner", "create", "p2", "--timezone", "Europe/" + "x" * 249), "time zone is longer"),
        (("partner", "create", "p2", "--timezone", "Mars/\x1b[2J"), "time zone contains a control"),
        (("products", "add", "pb", "x" * 300), "product name is longer than 255 characters"),
        (("products", "add", "pb", "Pass\x1b[31mBoss"), "product name contains a control"),
        (("user", "create", "msp1", "ad\x1b[2Jmin@x.test"), "e-mail address contains a control"),
        (("user", "create", "msp1", "a" * 300 + "@x.test"), "e-mail address is longer than 255"),
        (("companies", "exclude", "msp1", "\x1b]0;owned\x07" + "x" * 500), "no company with"),
        (("sync", "\x1b[2J" + "p" * 500), "no partner named"),
    ],
)
def test_hostile_arguments_are_one_line_and_exit_1(cli, args, fragment):
    result = cli(*args, stdin="a long enough passphrase\n")

    _one_line_error(result, fragment)
    assert len(result.stderr) < 200


def test_a_name_with_control_characters_is_printed_escaped(cli, session_factory):
    # A name stored before these rules (or taken from ConnectWise) may hold anything.
    with session_factory.begin() as session:
        partner_id = session.scalar(select(Partner.id).where(Partner.name == "msp1"))
        session.add(Company(partner_id=partner_id, external_id="c1", name=ESC_NAME))

    result = cli("companies", "exclude", "msp1", "c1")

    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1
    assert not any(char in result.stdout for char in "\x07\x1b\x9b")
    assert "\\x1b]0;owned\\x07\\x1b[2J\\x9b31m Dental\\nfake line (c1) excluded" in result.stdout


def test_a_usage_file_with_a_year_out_of_range_is_refused(cli, tmp_path):
    assert cli("products", "add", "pb-business", "Password Boss Business").returncode == 0
    path = tmp_path / "seats.csv"
    path.write_text(
        "company_id,company_name,user_id,user_email,product,active_from,active_to\n"
        "c1,Acme,u1,,pb-business,0001-01-01T00:00:00+01:00,\n"
    )

    result = cli("usage", "import", "msp1", str(path))

    _one_line_error(result, "line 2: active_from '0001-01-01T00:00:00+01:00' is outside the years")


@pytest.mark.parametrize(
    "args", [("partner", "create", "msp2"), ("sync", "msp1"), ("month-close",)]
)
def test_a_database_that_does_not_answer_is_one_line_not_a_traceback(args):
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "BILLING_SYNC_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/nothing",
        "BILLING_SYNC_SECRET_KEY": TEST_SECRET,
    }
    result = subprocess.run(
        [sys.executable, "-m", "billing_sync.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    _one_line_error(result, "the database did not do the work: connection")

"""The CLI contract of DESIGN §5, driven the way outside tests drive it: real processes."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import subprocess
import sys

import pytest

from cw_simulator import Simulator, SimulatorState
from tests.conftest import TEST_SECRET

CLIENT_ID = "5f1e6a3c-0000-4000-8000-000000000c11"
CSV = """company_id,company_name,user_id,user_email,product,active_from,active_to
C1,Acme Dental,u1,a@acme.example,pb-business,2026-01-05T09:00:00Z,
C1,Acme Dental,u2,b@acme.example,pb-business,2026-02-01T00:00:00-05:00,2026-09-15T00:00:00Z
C1,Acme Dental,u3,c@acme.example,pb-business,2026-03-01T00:00:00Z,
C2,Birchwood Legal,u9,z@birch.example,pb-business,2026-04-01T00:00:00Z,
C3,Cobalt Logistics,u5,q@cobalt.example,pb-business,2026-04-01T00:00:00Z,
"""


@pytest.fixture
def cw():
    state = SimulatorState(
        company_id="acme", public_key="pub", private_key="priv-9f9f", client_id=CLIENT_ID
    )
    state.add_catalog_item(identifier="PB-BUS", description="Password Boss Business")
    for name in ("Acme Dental", "Birchwood Legal", "Cobalt Logistics"):
        company = state.add_company(name=name)
        state.add_agreement(company_id=company["id"], name=f"{name} MSA")
    with Simulator(state) as sim:
        yield sim, state


@pytest.fixture
def cli(settings):
    env = {
        **os.environ,
        "BILLING_SYNC_DATABASE_URL": settings.database_url,
        "BILLING_SYNC_SECRET_KEY": TEST_SECRET,
        "BILLING_SYNC_ALLOW_PRIVATE_HOSTS": "1",
    }

    def run(
        *args: str,
        stdin: str | None = None,
        extra_env: dict[str, str] | None = None,
        stderr_on_a_terminal: bool = False,
    ) -> subprocess.CompletedProcess:
        argv = [sys.executable, "-m", "billing_sync.cli", *args]
        if stderr_on_a_terminal:
            return _stderr_on_a_terminal(argv, {**env, **(extra_env or {})})
        return subprocess.run(
            argv,
            env={**env, **(extra_env or {})},
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )

    return run


def _stderr_on_a_terminal(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run with stderr on a pseudo-terminal, as at a shell; stderr comes back as text.

    For small outputs only: nothing reads the terminal until the command has ended.
    """
    leader, follower = pty.openpty()
    with os.fdopen(leader, "rb", buffering=0) as terminal:
        try:
            done = subprocess.run(
                argv,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=follower,
                timeout=60,
            )
        finally:
            os.close(follower)
        drawn = b""
        with contextlib.suppress(OSError):  # Linux answers EIO once the terminal is drained
            while chunk := terminal.read(4096):
                drawn += chunk
    return subprocess.CompletedProcess(
        argv, done.returncode, done.stdout.decode(), drawn.decode(errors="replace")
    )


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def connect_partner(cli, sim) -> None:
    """A migrated database with partner msp1 connected to the simulator."""
    ok(cli("init-db"))
    ok(cli("partner", "create", "msp1"))
    ok(
        cli(
            "connection",
            "set",
            "msp1",
            "--site",
            sim.site,
            "--company-id",
            "acme",
            "--public-key",
            "pub",
            "--private-key",
            "priv-9f9f",
            "--client-id",
            CLIENT_ID,
        )
    )


def test_the_whole_setup_and_sync_contract(cli, cw, tmp_path):
    sim, state = cw
    usage_file = tmp_path / "usage.csv"
    usage_file.write_text(CSV)

    ok(cli("init-db"))
    ok(cli("init-db"))  # idempotent
    ok(cli("partner", "create", "msp1", "--timezone", "America/New_York"))
    ok(cli("user", "create", "msp1", "admin@msp1.example", stdin="correct horse battery\n"))
    out = ok(
        cli(
            "connection",
            "set",
            "msp1",
            "--site",
            sim.site,
            "--company-id",
            "acme",
            "--public-key",
            "pub",
            "--private-key",
            "priv-9f9f",
            "--client-id",
            CLIENT_ID,
        )
    )
    assert "priv-9f9f" not in out
    assert "ConnectWise v" in ok(cli("connection", "test", "msp1"))
    ok(cli("integration", "enable", "msp1"))
    ok(cli("products", "add", "pb-business", "Password Boss Business"))
    assert "PB-BUS" in ok(cli("products", "map", "msp1", "pb-business", "--cw-product-id", "1"))
    assert "imported 5 rows" in ok(cli("usage", "import", "msp1", str(usage_file)))
    assert "seats 0 created" in ok(cli("usage", "import", "msp1", str(usage_file)))
    matched = ok(cli("companies", "automatch", "msp1"))
    assert "3 matched" in matched
    ok(cli("companies", "exclude", "msp1", "C3"))
    ok(cli("companies", "map", "msp1", "C2", "--cw-company-id", "2", "--agreement-id", "2"))
    ok(
        cli(
            "schedule",
            "set",
            "msp1",
            "weekly",
            "--weekday",
            "mon",
            "--at",
            "06:30",
            "--basis",
            "month_end",
        )
    )

    preview_json = cli("sync", "msp1", "--dry-run", "--json", stderr_on_a_terminal=True)
    preview = json.loads(ok(preview_json))
    assert preview_json.stderr == ""  # --json draws no progress bar, even on a terminal
    on_a_terminal = cli("sync", "msp1", "--dry-run", stderr_on_a_terminal=True)
    assert "run" in ok(on_a_terminal)  # the table still goes to stdout
    assert "syncing" in on_a_terminal.stderr and "2/2" in on_a_terminal.stderr  # click's bar
    assert state.additions(1) == []
    result = json.loads(ok(cli("sync", "msp1", "--json")))

    assert preview["status"] == result["status"] == "succeeded"
    items = {i["company"]: i for i in result["items"]}
    assert set(items) == {"C1", "C2"}  # C3 is excluded
    assert (items["C1"]["action"], items["C1"]["quantity_after"]) == ("create", 2)
    assert set(items["C1"]) >= {
        "company",
        "product",
        "agreement_id",
        "addition_id",
        "action",
        "quantity_before",
        "quantity_after",
        "error",
    }
    assert [a["quantity"] for a in state.additions(1)] == [2.0]
    again = json.loads(ok(cli("sync", "msp1", "--json")))
    assert {i["action"] for i in again["items"]} == {"unchanged"}
    table = cli("sync", "msp1")
    assert "run" in ok(table)  # the readable table
    assert table.stderr == ""  # stderr is a pipe here: no progress bar


@pytest.mark.parametrize(
    "args, message",
    [
        (("partner", "create", "bad name!"), "partner name"),
        (("partner", "create", "p2", "--timezone", "Mars/Olympus"), "time zone"),
        (("sync", "nobody"), "no partner named 'nobody'"),
        (("products", "map", "nobody", "x", "--cw-product-id", "1"), "no partner"),
        (("companies", "exclude", "msp1", "missing"), "no company"),
        (("schedule", "set", "msp1", "hourly", "--at", "06:00"), "hourly"),
    ],
)
def test_bad_input_is_one_line_error_and_non_zero_exit(cli, args, message):
    ok(cli("init-db"))
    ok(cli("partner", "create", "msp1"))

    result = cli(*args)

    assert result.returncode != 0
    assert message.lower() in result.stderr.lower()
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args, variable, value, message",
    [
        (
            ("sync", "x"),
            "BILLING_SYNC_CONCURRENCY",
            "abc",
            "BILLING_SYNC_CONCURRENCY must be a whole number from 1 to 64, got 'abc'",
        ),
        (
            ("serve", "--port", "0"),
            "BILLING_SYNC_SCHEDULER",
            "maybe",
            "BILLING_SYNC_SCHEDULER must be one of 1/0, true/false, yes/no, on/off, got 'maybe'",
        ),
        (
            ("serve", "--port", "0"),
            "BILLING_SYNC_LOGIN_RATE_LIMIT",
            "lots",
            "BILLING_SYNC_LOGIN_RATE_LIMIT must be attempts/period such as 10/5m",
        ),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable_and_exit_1(
    cli, args, variable, value, message
):
    result = cli(*args, extra_env={variable: value})

    assert result.returncode == 1
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith(f"error: {message}")
    assert "Traceback" not in result.stderr


def test_a_bad_usage_file_imports_nothing_and_names_the_lines(cli, tmp_path):
    ok(cli("init-db"))
    ok(cli("partner", "create", "msp1"))
    ok(cli("products", "add", "pb-business", "Password Boss Business"))
    bad = tmp_path / "bad.csv"
    bad.write_text(
        CSV.replace("2026-03-01T00:00:00Z", "yesterday").replace(
            "C3,Cobalt Logistics,u5,q@cobalt.example,pb-business",
            "C3,Cobalt Logistics,u5,q@cobalt.example,pb-unknown",
        )
    )

    result = cli("usage", "import", "msp1", str(bad))

    assert result.returncode == 1
    assert "line 4" in result.stderr and "line 6" in result.stderr
    assert "imported" not in result.stdout
    good = tmp_path / "good.csv"
    good.write_text(CSV)
    assert "3 companies created" in ok(cli("usage", "import", "msp1", str(good)))


def test_sync_exits_1_when_an_item_fails_and_reports_it(cli, cw, tmp_path):
    sim, state = cw
    ids = [state.add_addition(agreement_id=1, product_id=1, quantity=q)["id"] for q in (1, 2)]
    usage_file = tmp_path / "usage.csv"
    usage_file.write_text(CSV)
    connect_partner(cli, sim)
    ok(cli("integration", "enable", "msp1"))
    ok(cli("products", "add", "pb-business", "Password Boss Business"))
    ok(cli("products", "map", "msp1", "pb-business", "--cw-product-id", "1"))
    ok(cli("usage", "import", "msp1", str(usage_file)))
    ok(cli("companies", "automatch", "msp1"))

    result = cli("sync", "msp1", "--json")

    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["status"] == "partial"
    failed = [i for i in report["items"] if i["action"] == "error"]
    assert [i["company"] for i in failed] == ["C1"]
    assert f"{ids[0]}, {ids[1]}" in failed[0]["error"]


def test_sync_is_refused_with_exit_1_while_the_integration_is_disabled(cli, cw):
    sim, state = cw
    connect_partner(cli, sim)

    result = cli("sync", "msp1", "--json")

    assert result.returncode == 1
    assert json.loads(result.stdout)["status"] == "refused"
    assert state.log == []


def test_sync_json_is_one_refused_object_while_another_run_holds_the_lease(
    cli, cw, session_factory
):
    from sqlalchemy import select

    from billing_sync.lease import acquire_lease
    from billing_sync.models import Partner

    sim, state = cw
    connect_partner(cli, sim)
    ok(cli("integration", "enable", "msp1"))
    with session_factory() as session:
        partner_id = session.scalar(select(Partner.id).where(Partner.name == "msp1"))
    assert acquire_lease(session_factory, partner_id, "another-process", seconds=60)

    result = cli("sync", "msp1", "--json")

    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert (report["status"], report["run_id"], report["items"]) == ("refused", None, [])
    assert "already running" in report["message"]
    assert state.log == []


def test_the_domain_never_imports_flask():
    code = (
        "import sys, billing_sync, billing_sync.cli, billing_sync.sync, "
        "billing_sync.scheduler, cw_simulator, demo.showcase; "
        "print('flask' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"

"""`billing-sync guardrails`, `holds` and `drift`: what they print, and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from billing_sync.cli import cli
from tests.conftest import TEST_SECRET
from tests.guardrails.helpers import (
    DEFAULTS,
    addition,
    holds,
    make_live,
    set_count,
    set_rules,
    sync,
)
from tests.sync.conftest import NO_HOLDS


@pytest.fixture
def env(settings):
    return {
        "BILLING_SYNC_DATABASE_URL": settings.database_url,
        "BILLING_SYNC_SECRET_KEY": TEST_SECRET,
        "BILLING_SYNC_ALLOW_PRIVATE_HOSTS": "1",
    }


@pytest.fixture
def run(env):
    def invoke(*args: str):
        return CliRunner().invoke(cli, list(args), env=env)

    return invoke


@pytest.fixture
def held(session_factory, settings, world):
    """ext-001 pb-business at 2 in ConnectWise, its count 25: one open hold."""
    make_live(session_factory, world)
    set_rules(session_factory, world, NO_HOLDS)
    sync(session_factory, settings, world)
    set_rules(session_factory, world, DEFAULTS)
    set_count(session_factory, world, "ext-001", "pb-business", 25)
    sync(session_factory, settings, world)
    return world


def test_guardrails_set_and_show_for_the_partner_and_one_company(run, world):
    result = run(
        "guardrails", "set", "msp", "--max-increase-pct", "20", "--min-increase-users", "3",
        "--no-hold-to-zero", "--drift-policy", "adopt",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "hold a rise of more than 20 % and 3 users" in result.output
    assert "to zero: written" in result.output and "drift policy: adopt" in result.output

    result = run("guardrails", "set", "msp", "--company", "ext-001", "--min-decrease-users", "1")
    assert result.exit_code == 0, result.output
    assert "company ext-001: hold a rise of more than 20 % and 3 users, a fall" in result.output

    shown = json.loads(run("guardrails", "show", "msp", "--json").output)
    assert shown["partner"]["drift_policy"] == "adopt"
    assert shown["companies"]["ext-001"]["fall_users"] == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (("guardrails", "set", "nobody", "--first-run-total", "5"), "no partner named 'nobody'"),
        (("guardrails", "set", "msp", "--company", "nope", "--min-increase-users", "2"), "nope"),
        (("guardrails", "set", "msp", "--company", "ext-001", "--first-run-total", "5"), "company"),
        (("guardrails", "set", "msp", "--max-increase-pct", "-5"), "rise_percent"),
        (("guardrails", "set", "msp"), "nothing to set"),
        (("holds", "list", "nobody"), "no partner named"),
        (("holds", "approve", "msp", "999"), "no hold 999"),
        (("holds", "approve", "msp"), "give hold ids or --all"),
        (("holds", "reject", "msp", "--all"), "no open holds"),
        (("drift", "nobody"), "no partner named"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(run, world, args, message):
    result = run(*args)

    assert result.exit_code == 1, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "args",
    [
        ("guardrails", "set", "msp", "--drift-policy", "ignore"),
        ("holds", "approve", "msp", "abc"),
        ("guardrails", "set", "msp", "--min-increase-users", "many"),
    ],
)
def test_a_bad_option_is_one_line_from_the_console_script(env, world, args):
    done = subprocess.run(
        [sys.executable, "-m", "billing_sync.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("error:")


def test_holds_list_approve_writes_through_the_engine(run, held, session_factory):
    listed = json.loads(run("holds", "list", "msp", "--json").output)
    assert [(h["company"], h["product"], h["rule"]) for h in listed] == [
        ("ext-001", "pb-business", "rise")
    ]
    assert "UTC" in run("holds", "list", "msp").output

    result = run("holds", "approve", "msp", str(listed[0]["id"]), "--json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.output.splitlines()[-1])
    assert report["status"] == "succeeded"
    assert addition(held, "ext-001", "pb-business")["quantity"] == 25
    assert "no open holds" in run("holds", "list", "msp").output
    again = run("holds", "approve", "msp", str(listed[0]["id"]))
    assert again.exit_code == 1 and "not open any more" in again.output


def test_holds_reject_keeps_connectwise_as_it_is(run, held, session_factory, settings):
    (hold,) = holds(session_factory)

    assert run("holds", "reject", "msp", str(hold.id)).exit_code == 0
    report = sync(session_factory, settings, held)
    assert [i.action for i in report.items if i.company == "ext-001"] == ["skipped", "unchanged"]
    assert addition(held, "ext-001", "pb-business")["quantity"] == 2


def test_sync_json_says_held_and_exits_1(run, held):
    result = run("sync", "msp", "--json")

    assert result.exit_code == 1
    report = json.loads(result.output.splitlines()[0])
    assert report["status"] == "held"
    assert [i["action"] for i in report["items"] if i["company"] == "ext-001"][0] == "held"


def test_drift_lists_hand_edits_with_who_and_when(run, held, cw_state, session_factory, settings):
    set_rules(session_factory, held, {"drift_policy": "hold"})
    cw_state.edit_addition(
        addition(held, "ext-002", "pb-business")["id"], quantity=9, updated_by="jdoe"
    )
    sync(session_factory, settings, held)

    (found,) = json.loads(run("drift", "msp", "--json").output)
    assert (found["company"], found["expected"], found["found"], found["changed_by"]) == (
        "ext-002",
        3,
        9,
        "jdoe",
    )
    assert "changed by jdoe" in run("drift", "msp").output

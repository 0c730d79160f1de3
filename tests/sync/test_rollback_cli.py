"""`billing-sync rollback` as a person types it: a real process, one-line errors, JSON shape."""

from __future__ import annotations

import json

import pytest

from billing_sync import partners
from billing_sync.sync import begin_run, run_sync
from tests.sync.conftest import NOW, cli_runner


@pytest.fixture
def cli(settings):
    return cli_runner(settings, "rollback")


def test_rollback_prints_a_table_and_says_the_next_run_writes_the_counts_again(
    session_factory, settings, world, cli
):
    first = run_sync(session_factory, settings, world.partner_id, now=NOW)

    preview = cli("msp", str(first.run_id), "--dry-run", "--json")
    done = cli("msp", str(first.run_id))

    shown = json.loads(preview.stdout)
    assert preview.returncode == 0 and shown["status"] == "succeeded"
    assert set(shown) >= {"run_id", "status", "items"} and len(shown["items"]) == 7
    assert set(shown["items"][0]) == {
        "company",
        "product",
        "agreement_id",
        "addition_id",
        "action",
        "quantity_before",
        "quantity_after",
        "error",
    }
    assert done.returncode == 0, done.stderr
    assert "7 update" in done.stdout
    assert "the next run writes the counts again" in done.stdout
    assert set(world.quantities().values()) == {0.0}


def test_a_conflict_exits_one(session_factory, settings, world, cli):
    first = run_sync(session_factory, settings, world.partner_id, now=NOW)
    [addition] = world.additions("ext-000")
    with world.state.lock:
        world.state.table("additions")[addition["id"]]["quantity"] = 6.0

    result = cli("msp", str(first.run_id), "--json")

    report = json.loads(result.stdout)
    assert result.returncode == 1 and report["status"] == "partial"
    [conflict] = [i for i in report["items"] if i["action"] == "error"]
    assert conflict["error"].startswith("conflict: ConnectWise shows 6, not the 1 run")


def test_bad_input_is_one_line_and_exit_one(session_factory, settings, world, cli):
    first = run_sync(session_factory, settings, world.partner_id, now=NOW)
    preview = run_sync(session_factory, settings, world.partner_id, now=NOW, dry_run=True)
    unchanged = run_sync(session_factory, settings, world.partner_id, now=NOW)
    with session_factory.begin() as session:
        partners.create_partner(session, "other", now=NOW)
    running = begin_run(session_factory, settings, world.partner_id, now=NOW)

    cases = {
        ("nobody", "1"): "nobody",
        ("msp", "999"): "no run 999",
        ("msp", "abc"): "run_id",
        ("other", str(first.run_id)): f"no run {first.run_id}",
        ("msp", str(preview.run_id)): "is a preview",
        ("msp", str(running.run_id)): "still running",
        ("msp", str(unchanged.run_id)): "changed nothing",
        ("msp", str(first.run_id), "--bogus"): "--bogus",
    }
    for args, expected in cases.items():
        result = cli(*args)
        assert result.returncode != 0, args
        assert result.stderr.startswith("error:") and result.stderr.count("\n") == 1, result.stderr
        assert expected in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr

"""`billing-sync check` as a real process: lines, JSON, exit codes, one-line errors."""

from __future__ import annotations

import json

import pytest

from tests.sync.conftest import build_world, cli_runner


@pytest.fixture
def cli(settings):
    return cli_runner(settings, "check")


@pytest.fixture
def world(session_factory, settings, cw, cw_state):
    world = build_world(session_factory, settings, cw, cw_state, companies=2)
    with cw_state.lock:  # invoicing on the 1st, whatever month the test runs in
        for agreement_id in world.agreements.values():
            cw_state.table("agreements")[agreement_id]["nextInvoiceDate"] = "2099-01-01T00:00:00Z"
    return world


def test_all_green_prints_one_line_per_company_and_exits_0(cli, world):
    result = cli("msp")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[2].startswith("ext-000") and " green " in lines[2] and "ready to bill" in lines[2]
    assert lines[-1] == "2 green, 0 amber, 0 red (2 mapped companies)"


def test_a_red_company_exits_1_and_json_says_why(cli, world, cw_state):
    with cw_state.lock:
        cw_state.table("agreements")[world.agreements["ext-001"]]["cancelledFlag"] = True

    text = cli("msp")
    result = cli("msp", "--json")

    assert text.returncode == 1 and "ext-001" in text.stdout and "is cancelled" in text.stdout
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["partner"] == "msp" and data["summary"] == {"green": 1, "amber": 0, "red": 1}
    red = next(c for c in data["companies"] if c["company"] == "ext-001")
    assert red["level"] == "red" and red["agreement_id"] == world.agreements["ext-001"]
    assert red["reasons"][0]["code"] == "agreement_inactive"
    assert red["facts"]["billing_cycle"] == "Monthly" and "checked_at" in data


def test_a_missing_permission_is_named(cli, world, cw_state):
    cw_state.faults.forbidden = ["GET /procurement/catalog/{id}"]

    result = cli("msp")

    assert result.returncode == 1
    assert "Procurement > Product Catalog: Inquire" in result.stdout


def test_unknown_partner_is_one_line(cli, world):
    result = cli("nobody")

    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip().splitlines() == ["error: no partner named 'nobody'"]


def test_connection_failure_is_one_line(cli, world, cw):
    cw.stop()

    result = cli("msp", "--json")

    assert result.returncode == 1 and result.stdout == ""
    assert "Traceback" not in result.stderr  # urllib3 may log its retries before the error
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "could not connect" in errors[0].lower()

"""`billing-sync orphans`: list, zero and adopt as real processes; one-line errors on bad input."""

from __future__ import annotations

import json

import pytest

from billing_sync import mappings
from billing_sync.sync import run_sync
from tests.sync.conftest import NOW, build_world, cli_runner


@pytest.fixture
def cli(settings):
    return cli_runner(settings, "orphans")


@pytest.fixture
def excluded(session_factory, settings, cw, cw_state):
    """A synced world whose ext-001 was excluded afterwards: its two additions are left behind."""
    world = build_world(session_factory, settings, cw, cw_state, companies=2)
    assert run_sync(session_factory, settings, world.partner_id, now=NOW).status == "succeeded"
    with session_factory.begin() as session:
        company = mappings.get_company(session, world.partner_id, "ext-001")
        mappings.exclude_company(session, company, now=NOW)
    return world


def test_list_prints_a_table_and_json(cli, excluded):
    ids = sorted(a["id"] for a in excluded.additions("ext-001"))

    table = cli("msp")
    as_json = cli("list", "msp", "--json")

    assert table.returncode == 0, table.stderr
    assert "left behind" in table.stdout and "2 orphan(s), checked at" in table.stdout
    assert table.stdout.rstrip().endswith("UTC")
    data = json.loads(as_json.stdout)
    assert sorted(o["addition_id"] for o in data["orphans"]) == ids
    assert {o["kind"] for o in data["orphans"]} == {"left_behind"}
    assert data["orphans"][0]["company"] == "ext-001" and data["problems"] == []


def test_zero_dry_run_then_for_real(cli, excluded, cw_state):
    ids = [str(a["id"]) for a in excluded.additions("ext-001")]

    dry = cli("zero", "msp", *ids, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "dry run planned" in dry.stdout
    assert not [e for e in cw_state.log if e.method == "PATCH"]

    real = cli("zero", "msp", *ids, "--json")

    assert real.returncode == 0, real.stderr
    data = json.loads(real.stdout)
    assert data["status"] == "succeeded" and {i["action"] for i in data["items"]} == {"update"}
    assert {a["quantity"] for a in excluded.additions("ext-001")} == {0.0}


def test_adopt_from_the_command_line(cli, session_factory, settings, cw, cw_state):
    world = build_world(session_factory, settings, cw, cw_state, companies=1)
    existing = cw_state.add_addition(world.agreements["ext-000"], world.catalog["pb-business"], 3)

    adopted = cli("adopt", "msp", str(existing["id"]))

    assert adopted.returncode == 0, adopted.stderr
    assert "unchanged" in adopted.stdout and "succeeded" in adopted.stdout
    assert cli("list", "msp", "--json").stdout.count('"addition_id"') == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (("list", "nobody"), "no partner named"),
        (("zero", "nobody", "5"), "no partner named"),
        (("zero", "msp", "abc"), "must be a whole number"),
        (("zero", "msp", "999999"), "no addition 999999"),
        (("adopt", "msp", "999999"), "no addition 999999"),
        (("zero", "msp"), "Missing argument"),
        (("list", "msp", "--bogus"), "No such option"),
    ],
)
def test_bad_input_is_one_line_and_non_zero(cli, excluded, args, message):
    result = cli(*args)

    assert result.returncode != 0
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 3  # click's usage errors add a hint line


def test_another_partners_addition_is_not_found(cli, excluded, session_factory, settings, cw):
    from billing_sync import partner_connection, partners
    from tests.sync.conftest import CLIENT_ID, PRIVATE_KEY

    with session_factory.begin() as session:
        other = partners.create_partner(session, "other", now=NOW)
        partners.set_integration(other, True)
        form = partner_connection.ConnectionForm(cw.site, "acme", "pub-key", PRIVATE_KEY, CLIENT_ID)
        partner_connection.save_connection(session, settings, other, form, now=NOW)
    left = excluded.additions("ext-001")[0]

    result = cli("zero", "other", str(left["id"]))

    assert result.returncode == 1
    assert (
        result.stderr
        == f"error: no addition {left['id']} on this partner's mapped or synced agreements\n"
    )
    assert excluded.state.get("additions", left["id"])["quantity"] == left["quantity"]


def test_adopting_a_leftover_is_refused_in_one_line(cli, excluded):
    left = excluded.additions("ext-001")[0]["id"]

    result = cli("adopt", "msp", str(left))

    assert result.returncode == 1
    assert result.stderr.startswith("error: addition") and "cannot be adopted" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1

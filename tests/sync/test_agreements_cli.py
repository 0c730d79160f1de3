"""`billing-sync agreements`: suggest, replace, accept, dismiss and create as real processes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from billing_sync import mappings
from billing_sync.models import AgreementReplacement, Company
from billing_sync.sync import run_sync
from tests.sync.conftest import NOW, build_world, cli_runner


@pytest.fixture
def cli(settings):
    return cli_runner(settings, "agreements")


@pytest.fixture
def world(session_factory, settings, cw, cw_state):
    """Two mapped companies, ext-001's agreement cancelled with one newer; a new customer."""
    world = build_world(session_factory, settings, cw, cw_state, companies=2)
    with cw_state.lock:
        cw_state.table("agreements")[world.agreements["ext-001"]]["cancelledFlag"] = True
    cw_company = cw_state.get("agreements", world.agreements["ext-001"])["company"]["id"]
    world.agreements["new-001"] = cw_state.add_agreement(
        cw_company, "MSA 2027", start_date=datetime(2026, 10, 1, tzinfo=UTC)
    )["id"]
    world.companies["cw-new"] = cw_state.add_company(name="Newco")["id"]
    with session_factory.begin() as session:
        session.add(Company(partner_id=world.partner_id, external_id="ext-new", name="Newco"))
    return world


def mapped(factory, world, external: str) -> int | None:
    with factory() as session:
        company = mappings.get_company(session, world.partner_id, external)
        mapping = mappings.get_mapping(session, company)
        return mapping.agreement_id if mapping else None


def test_suggest_lists_ended_agreements_in_text_and_json(cli, world):
    text = cli("suggest", "msp")
    as_json = cli("suggest", "msp", "--json")

    assert text.returncode == 0, text.stderr
    assert "ext-001 (Customer 001)" in text.stdout and "is cancelled" in text.stdout
    assert f"re-point to MSA 2027 (#{world.agreements['new-001']})" in text.stdout
    [row] = json.loads(as_json.stdout)["ended"]
    assert row["new_agreement_id"] == world.agreements["new-001"] and row["company"] == "ext-001"


def test_replace_repoints_and_records(cli, world, session_factory):
    done = cli("replace", "msp", "ext-001", "--to", str(world.agreements["new-001"]))

    assert done.returncode == 0, done.stderr
    assert mapped(session_factory, world, "ext-001") == world.agreements["new-001"]
    with session_factory() as session:
        [row] = session.scalars(select(AgreementReplacement))
    assert (row.status, row.decided_by) == ("accepted", "cli")


def test_accept_and_dismiss_by_suggestion_id(cli, world, session_factory, settings):
    run_sync(session_factory, settings, world.partner_id, now=NOW)
    with session_factory() as session:
        [row] = session.scalars(select(AgreementReplacement))

    dismissed = cli("dismiss", "msp", str(row.id))
    again = cli("accept", "msp", str(row.id))

    assert dismissed.returncode == 0, dismissed.stderr
    assert again.returncode == 1 and again.stderr.startswith("error: ")
    assert "is dismissed, not open" in again.stderr and len(again.stderr.splitlines()) == 1


def test_create_makes_one_agreement_and_maps(cli, world, cw_state, session_factory):
    args = ["create", "msp", "ext-new", "--cw-company-id", str(world.companies["cw-new"])]
    args += ["--template", str(world.agreements["ext-000"]), "--start", "2099-01-01"]

    made = cli(*args)
    twice = cli(*args)

    assert made.returncode == 0, made.stderr
    assert "created agreement" in made.stdout
    [agreement] = [
        a for a in cw_state.records("agreements") if a["company"]["id"] == world.companies["cw-new"]
    ]
    assert agreement["startDate"] == "2099-01-01T00:00:00Z"
    assert mapped(session_factory, world, "ext-new") == agreement["id"]
    assert twice.returncode == 1 and "made agreement" in twice.stderr


def test_create_with_a_lost_answer_exits_3_and_the_retry_finds_it(cli, world, cw_state):
    args = ["create", "msp", "ext-new", "--cw-company-id", str(world.companies["cw-new"])]
    args += ["--template", str(world.agreements["ext-000"])]
    cw_state.faults.lose_next_posts = 1

    lost = cli(*args)
    retry = cli(*args)

    assert lost.returncode == 3 and "may still" in lost.stderr
    assert retry.returncode == 0, retry.stderr
    assert len([a for a in cw_state.records("agreements") if "internalNotes" in a]) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["suggest", "nobody"], "no partner"),
        (["replace", "msp", "ext-001", "--to", "0"], "--to must be a whole number"),
        (["replace", "msp", "nope", "--to", "5"], "no company with external id"),
        (["accept", "msp", "999"], "no replacement suggestion 999"),
        (
            [
                "create",
                "msp",
                "ext-new",
                "--cw-company-id",
                "1",
                "--template",
                "1",
                "--start",
                "tomorrow",
            ],
            "not a date",
        ),  # fmt: skip
        (
            [
                "create",
                "msp",
                "ext-new",
                "--cw-company-id",
                "1",
                "--template",
                "1",
                "--start",
                "2020-01-01",
            ],
            "in the past",
        ),  # fmt: skip
        (
            [
                "create",
                "msp",
                "ext-new",
                "--cw-company-id",
                "1",
                "--template",
                "1",
                "--name",
                "x" * 101,
            ],
            "at most 100",
        ),  # fmt: skip
        (["create", "msp", "ext-new", "--cw-company-id", "99999", "--template", "1"], "GET"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(cli, world, args, message):
    result = cli(*args)
    assert result.returncode == 1, result.stdout
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert len(result.stderr.splitlines()) == 1

"""Pre-flight health against the simulator: every red and amber reason, via `check` and via runs."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from billing_sync.models import MappingHealth, RunItem
from billing_sync.preflight import check_now
from billing_sync.sync import run_sync
from tests.sync.conftest import NOW, add_seats, build_world

NEXT_INVOICE = "2026-12-01T00:00:00Z"  # after NOW (2026-11-05)


def _set(state, kind: str, record_id: int, **fields) -> None:
    with state.lock:
        state.table(kind)[record_id].update(fields)


def _agreement(world, **fields):
    _set(world.state, "agreements", world.agreements["ext-000"], **fields)


def _duplicate(world):
    agreement = world.agreements["ext-000"]
    for _ in range(2):
        world.state.add_addition(agreement, world.catalog["pb-business"], quantity=1)


def _other_company(world):
    other = world.state.add_company(name="Somebody Else")
    _agreement(world, company={"id": other["id"], "identifier": other["identifier"],
                               "name": other["name"]})  # fmt: skip


def _missing(world):
    with world.state.lock:
        del world.state.table("agreements")[world.agreements["ext-000"]]


def _forbid(operation: str):
    def deny(world):
        world.state.faults.forbidden = [operation]

    return deny


# (reason code, what to change in ConnectWise); each makes ext-000's mapping red or amber
RED_CASES = [
    ("agreement_missing", _missing),
    ("agreement_other_company", _other_company),
    ("agreement_inactive", lambda w: _agreement(w, cancelledFlag=True)),
    ("agreement_inactive", lambda w: _agreement(w, agreementStatus="Expired")),
    (
        "company_deleted",
        lambda w: _set(
            w.state,
            "companies",
            w.state.get("agreements", w.agreements["ext-000"])["company"]["id"],
            deletedFlag=True,
        ),
    ),  # fmt: skip
    (
        "catalog_inactive",
        lambda w: _set(w.state, "catalog", w.catalog["pb-business"], inactiveFlag=True),
    ),  # fmt: skip
    (
        "catalog_bundle",
        lambda w: _set(w.state, "catalog", w.catalog["pb-premium"], productClass="Bundle"),
    ),  # fmt: skip
    ("duplicate_additions", _duplicate),
    ("permission_additions", _forbid("GET /finance/agreements/{parentId}/additions")),
    ("permission_catalog", _forbid("GET /procurement/catalog/{id}")),
    ("permission_companies", _forbid("GET /company/companies")),
]
AMBER_CASES = [
    ("not_started", lambda w: _agreement(w, billStartDate="2026-12-01T00:00:00Z")),
    ("not_started", lambda w: _agreement(w, startDate="2027-01-01T00:00:00Z")),
    ("billing_cycle", lambda w: _agreement(w, billingCycle={"id": 3, "name": "Quarterly"})),
    ("no_next_invoice", lambda w: _agreement(w, nextInvoiceDate=None)),
    ("next_invoice_past", lambda w: _agreement(w, nextInvoiceDate="2026-10-01T00:00:00Z")),
    (
        "ends_soon",
        lambda w: _agreement(w, noEndingDateFlag=False, endDate="2026-11-30T00:00:00Z"),
    ),
]
CASES = [(code, "red", change) for code, change in RED_CASES] + [
    (code, "amber", change) for code, change in AMBER_CASES
]
PARTNER_WIDE = {
    "catalog_inactive",
    "catalog_bundle",
    "permission_additions",
    "permission_catalog",
    "permission_companies",
}
IDS = [f"{level}-{code}-{n}" for n, (code, level, _c) in enumerate(CASES)]


@pytest.fixture
def healthy(session_factory, settings, cw, cw_state):
    """Three mapped companies whose agreements invoice on the 1st of next month."""
    world = build_world(session_factory, settings, cw, cw_state, companies=3)
    for agreement_id in world.agreements.values():
        _set(cw_state, "agreements", agreement_id, nextInvoiceDate=NEXT_INVOICE)
    return world


def _stored(factory, world) -> dict[str, MappingHealth]:
    with factory() as session:
        rows = session.scalars(
            select(MappingHealth).where(MappingHealth.partner_id == world.partner_id)
        )
        by_company = {c: e for e, c in world.companies.items()}
        return {by_company[r.company_id]: r for r in rows}


def _codes(row: MappingHealth) -> list[str]:
    return [r["code"] for r in json.loads(row.reasons)]


@pytest.mark.parametrize(("code", "level", "change"), CASES, ids=IDS)
def test_check_finds_each_reason(session_factory, settings, healthy, code, level, change):
    change(healthy)

    report = check_now(session_factory, settings, healthy.partner_id, now=NOW)

    stored = _stored(session_factory, healthy)
    assert stored["ext-000"].level == level and code in _codes(stored["ext-000"])
    assert stored["ext-000"].run_id is None
    assert report.rows[0][1].level == level
    if code not in PARTNER_WIDE:  # the other companies stay green
        assert stored["ext-001"].level == "green", _codes(stored["ext-001"])


@pytest.mark.parametrize(("code", "level", "change"), CASES, ids=IDS)
def test_a_preview_run_records_each_reason(session_factory, settings, healthy, code, level, change):
    change(healthy)

    report = run_sync(session_factory, settings, healthy.partner_id, now=NOW, dry_run=True)

    row = _stored(session_factory, healthy)["ext-000"]
    assert (row.level, row.run_id) == (level, report.run_id)
    assert code in _codes(row)


def test_green_rows_keep_the_agreements_facts(session_factory, settings, healthy):
    run_sync(session_factory, settings, healthy.partner_id, now=NOW)

    row = _stored(session_factory, healthy)["ext-002"]
    assert (row.level, json.loads(row.reasons)) == ("green", [])
    assert (row.agreement_status, row.billing_cycle, row.prorate_flag) == (
        "Active",
        "Monthly",
        False,
    )
    assert str(row.next_invoice_date) == "2026-12-01" and str(row.bill_start_date) == "2024-01-01"
    assert row.agreement_type == "Managed Services"


def test_a_refused_agreements_read_fails_the_run_and_names_the_permission(
    session_factory, settings, healthy
):
    healthy.state.faults.forbidden = ["GET /finance/agreements"]

    report = run_sync(session_factory, settings, healthy.partner_id, now=NOW)
    checked = check_now(session_factory, settings, healthy.partner_id, now=NOW)

    assert report.status == "failed"
    assert checked.any_red
    for row in _stored(session_factory, healthy).values():
        assert row.level == "red" and _codes(row) == ["permission_agreements"]
        assert "Finance > Agreements: Inquire" in json.loads(row.reasons)[0]["message"]


def test_a_refused_write_records_403_and_the_edit_permission_until_a_write_succeeds(
    session_factory, settings, healthy
):
    healthy.state.faults.forbidden = ["POST /finance/agreements/{parentId}/additions"]

    run_sync(session_factory, settings, healthy.partner_id, now=NOW)

    with session_factory() as session:
        statuses = set(
            session.scalars(select(RunItem.http_status).where(RunItem.action == "create"))
        )
    assert statuses == {403}
    row = _stored(session_factory, healthy)["ext-000"]
    assert row.level == "red" and "permission_write" in _codes(row)
    assert "Finance > Agreements: Edit" in row.reasons
    check_now(session_factory, settings, healthy.partner_id, now=NOW)
    assert "permission_write" in _codes(_stored(session_factory, healthy)["ext-000"])

    healthy.state.faults.forbidden = []
    run_sync(session_factory, settings, healthy.partner_id, now=NOW)
    assert _stored(session_factory, healthy)["ext-000"].level == "green"


def test_a_refused_patch_records_403(session_factory, settings, healthy):
    run_sync(session_factory, settings, healthy.partner_id, now=NOW)
    with session_factory.begin() as session:  # one more user in November: an update in December
        company, product = healthy.companies["ext-001"], healthy.products["pb-business"]
        add_seats(session, healthy.partner_id, company, product, 1, prefix="new")
    healthy.state.faults.forbidden = ["PATCH /finance/agreements/{parentId}/additions/{id}"]

    run_sync(session_factory, settings, healthy.partner_id, now=NOW + timedelta(days=30))

    with session_factory() as session:
        updates = session.scalars(select(RunItem).where(RunItem.action == "update")).all()
    assert updates and {(u.state, u.http_status) for u in updates} == {("failed", 403)}


def test_other_write_failures_record_their_status_not_a_permission(
    session_factory, settings, healthy
):
    healthy.state.faults.fail_nth_post = 1  # a 409 Conflict on the first create

    run_sync(session_factory, settings, healthy.partner_id, now=NOW)

    with session_factory() as session:
        failed = session.scalars(select(RunItem).where(RunItem.state == "failed")).all()
    assert [f.http_status for f in failed] == [409]
    assert all(
        "permission_write" not in _codes(r) for r in _stored(session_factory, healthy).values()
    )


def test_a_check_is_grouped_not_per_company(session_factory, settings, cw, cw_state):
    world = build_world(session_factory, settings, cw, cw_state, companies=6)
    cw_state.clear_log()

    check_now(session_factory, settings, world.partner_id, now=NOW)

    paths = [e.path.split("/apis/3.0")[-1] for e in cw_state.log]
    assert paths.count("/finance/agreements") == 1 and paths.count("/company/companies") == 1
    assert sum(p.startswith("/procurement/catalog/") for p in paths) == 2  # one per product
    assert sum(p.endswith("/additions") for p in paths) == 6  # one per agreement, like a run


def test_a_run_records_health_with_two_grouped_reads_more(session_factory, settings, healthy):
    healthy.state.clear_log()

    run_sync(session_factory, settings, healthy.partner_id, now=NOW, dry_run=True)

    paths = [e.path.split("/apis/3.0")[-1] for e in healthy.state.log]
    assert paths.count("/company/companies") == 1
    assert sum(p.startswith("/procurement/catalog/") for p in paths) == 2
    assert len(_stored(session_factory, healthy)) == 3


def test_health_is_upserted_one_row_per_company(session_factory, settings, healthy):
    check_now(session_factory, settings, healthy.partner_id, now=NOW)
    _agreement(healthy, cancelledFlag=True)
    report = run_sync(session_factory, settings, healthy.partner_id, now=NOW, dry_run=True)

    with session_factory() as session:
        rows = session.scalars(select(MappingHealth)).all()
    assert len(rows) == 3
    assert {r.run_id for r in rows} == {report.run_id}


def test_health_settings_do_not_leak_across_runs_of_other_partners(
    session_factory, settings, healthy
):
    check_now(session_factory, settings, healthy.partner_id, now=NOW)

    with session_factory() as session:
        assert {r.partner_id for r in session.scalars(select(MappingHealth))} == {
            healthy.partner_id
        }

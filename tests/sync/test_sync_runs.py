"""The sync engine against the simulator: DESIGN §2 'What a run does', rule by rule."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from billing_sync.errors import RunInProgress
from billing_sync.guard_rules import save_rules
from billing_sync.lease import acquire_lease
from billing_sync.models import AdditionLink, Partner, PeriodClose, Run, RunItem, RunLease
from billing_sync.partner_connection import client_for
from billing_sync.sync import run_sync
from tests.sync.conftest import NO_HOLDS, NOW, add_seats, build_world, expected_quantities


def sync(factory, settings, world, **kwargs):
    kwargs.setdefault("now", NOW)
    return run_sync(factory, settings, world.partner_id, **kwargs)


def writes(state) -> list[tuple[str, str]]:
    return [(e.method, e.path) for e in state.log if e.method in ("POST", "PATCH", "PUT", "DELETE")]


def test_first_run_creates_one_addition_per_nonzero_count(session_factory, settings, world):
    report = sync(session_factory, settings, world)

    assert report.status == "succeeded"
    assert world.quantities() == expected_quantities(world)
    addition = world.additions("ext-001")[0]
    assert addition["billCustomer"] == "Billable"
    assert addition["effectiveDate"] == "2026-11-01T00:00:00Z"
    assert "pb-" in addition["description"]
    actions = sorted((i.company, i.product, i.action) for i in report.items)
    assert ("ext-000", "pb-premium", "skipped") in actions  # a zero count creates nothing
    assert sum(1 for i in report.items if i.action == "create") == 7


def test_run_with_nothing_changed_writes_nothing(session_factory, settings, world, cw_state):
    sync(session_factory, settings, world)
    cw_state.clear_log()

    report = sync(session_factory, settings, world, now=NOW + timedelta(days=1))

    assert writes(cw_state) == []
    assert {i.action for i in report.items} == {"unchanged", "skipped"}
    gets = [e for e in cw_state.log if e.path.endswith("/additions")]
    assert len(gets) == len(world.agreements)  # one additions read per agreement


def test_next_month_patches_the_linked_addition_to_the_new_absolute_count(
    session_factory, settings, world, cw_state
):
    sync(session_factory, settings, world)
    with session_factory.begin() as session:
        add_seats(
            session,
            world.partner_id,
            world.companies["ext-002"],
            world.products["pb-business"],
            2,
            prefix="new",
            start=datetime(2026, 11, 10, tzinfo=UTC),
        )
    cw_state.clear_log()

    report = sync(session_factory, settings, world, now=datetime(2026, 12, 1, 0, 5, tzinfo=UTC))

    changed = [i for i in report.items if i.action == "update"]
    assert [(i.company, i.product, i.quantity_before, i.quantity_after) for i in changed] == [
        ("ext-002", "pb-business", 3.0, 5)
    ]
    patches = [e for e in cw_state.log if e.method == "PATCH"]
    assert [e.body for e in patches] == [[{"op": "replace", "path": "quantity", "value": 5}]]
    assert [e.method for e in cw_state.log if e.method in ("POST", "DELETE")] == []


def test_lone_existing_addition_is_adopted_not_duplicated(
    session_factory, settings, world, cw_state
):
    existing = cw_state.add_addition(
        agreement_id=world.agreements["ext-003"],
        product_id=world.catalog["pb-business"],
        quantity=1,
    )

    report = sync(session_factory, settings, world)

    item = next(i for i in report.items if (i.company, i.product) == ("ext-003", "pb-business"))
    assert (item.action, item.addition_id, item.quantity_after) == ("update", existing["id"], 4)
    assert world.quantities() == expected_quantities(world)
    with session_factory() as session:
        link = session.scalar(
            select(AdditionLink).where(
                AdditionLink.company_id == world.companies["ext-003"],
                AdditionLink.product_id == world.products["pb-business"],
            )
        )
    assert link.addition_id == existing["id"]


def test_cancelled_addition_is_not_adopted(session_factory, settings, world, cw_state):
    cw_state.add_addition(
        agreement_id=world.agreements["ext-001"],
        product_id=world.catalog["pb-business"],
        quantity=9,
        cancelled_date="2026-10-01T00:00:00Z",
    )

    sync(session_factory, settings, world)

    active = world.additions("ext-001")
    business = [a for a in active if a["product"]["id"] == world.catalog["pb-business"]]
    assert [a["quantity"] for a in business] == [2.0]


def test_ambiguous_additions_fail_that_item_only(session_factory, settings, world, cw_state):
    ids = [
        cw_state.add_addition(
            agreement_id=world.agreements["ext-002"],
            product_id=world.catalog["pb-premium"],
            quantity=q,
        )["id"]
        for q in (1, 2)
    ]

    report = sync(session_factory, settings, world)

    assert report.status == "partial"
    errors = [i for i in report.items if i.action == "error"]
    assert [(i.company, i.product) for i in errors] == [("ext-002", "pb-premium")]
    assert f"{ids[0]}, {ids[1]}" in errors[0].error and "cancel" in errors[0].advice
    assert [
        a["quantity"]
        for a in world.additions("ext-002")
        if a["product"]["id"] == world.catalog["pb-premium"]
    ] == [1.0, 2.0]
    assert sum(1 for i in report.items if i.action == "create") == 6


def test_zero_count_sets_existing_addition_to_zero(session_factory, settings, world, cw_state):
    existing = cw_state.add_addition(
        agreement_id=world.agreements["ext-000"], product_id=world.catalog["pb-premium"], quantity=6
    )
    with session_factory.begin() as session:  # by default a fall to zero is held (guardrails)
        save_rules(session, world.partner_id, None, NO_HOLDS, now=NOW)

    sync(session_factory, settings, world)

    assert cw_state.get("additions", existing["id"])["quantity"] == 0.0


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"cancelled": True}, "is cancelled"),
        ({"status": "Expired"}, "is expired"),
        ({"other_company": True}, "belongs to ConnectWise company"),
    ],
)
def test_unusable_agreement_fails_that_company_only(
    session_factory, settings, world, cw_state, change, expected
):
    agreement_id = world.agreements["ext-001"]
    with cw_state.lock:
        record = cw_state.table("agreements")[agreement_id]
        if change.get("cancelled"):
            record["cancelledFlag"] = True
        if "status" in change:
            record["agreementStatus"] = change["status"]
        if change.get("other_company"):
            record["company"] = {"id": 999, "identifier": "Other", "name": "Other"}

    report = sync(session_factory, settings, world)

    failed = {i.company for i in report.items if i.action == "error"}
    assert failed == {"ext-001"}
    assert all(expected in i.error and i.advice for i in report.items if i.company == "ext-001")
    assert world.additions("ext-001") == []
    assert report.status == "partial"


def test_disabled_integration_refuses_and_sends_nothing(session_factory, settings, world, cw_state):
    with session_factory.begin() as session:
        session.get(Partner, world.partner_id).integration_enabled = False

    report = sync(session_factory, settings, world)

    assert report.status == "refused" and "disabled" in report.message
    assert cw_state.log == []


def test_dry_run_plans_the_same_changes_and_writes_nothing(
    session_factory, settings, world, cw_state
):
    preview = sync(session_factory, settings, world, dry_run=True)

    assert writes(cw_state) == []
    with session_factory() as session:
        assert session.scalars(select(PeriodClose)).all() == []  # a preview freezes nothing
        assert session.get(Run, preview.run_id).dry_run
    real = sync(session_factory, settings, world)
    assert [(i.company, i.product, i.action, i.quantity_after) for i in preview.items] == [
        (i.company, i.product, i.action, i.quantity_after) for i in real.items
    ]


def test_preview_works_while_integration_is_disabled(session_factory, settings, world):
    with session_factory.begin() as session:
        session.get(Partner, world.partner_id).integration_enabled = False

    preview = sync(session_factory, settings, world, dry_run=True)

    assert preview.status == "succeeded"
    assert sum(1 for i in preview.items if i.action == "create") == 7


def test_a_held_lease_refuses_a_second_run(session_factory, settings, world, cw_state):
    assert acquire_lease(session_factory, world.partner_id, "other-process", seconds=60)

    with pytest.raises(RunInProgress, match="already running"):
        sync(session_factory, settings, world)
    assert cw_state.log == []


def test_an_expired_lease_of_a_dead_holder_does_not_block(session_factory, settings, world):
    with session_factory.begin() as session:  # a holder that died half an hour ago
        session.add(
            RunLease(
                partner_id=world.partner_id,
                holder="dead-process",
                token=7,
                acquired_at=datetime.now(UTC) - timedelta(minutes=31),
                expires_at=datetime.now(UTC) - timedelta(minutes=30),
            )
        )

    assert sync(session_factory, settings, world).status == "succeeded"


def test_every_decision_is_in_the_ledger(session_factory, settings, world):
    report = sync(session_factory, settings, world)

    with session_factory() as session:
        items = session.scalars(select(RunItem).where(RunItem.run_id == report.run_id)).all()
        run = session.get(Run, report.run_id)
    assert len(items) == len(report.items) == 8
    assert {i.state for i in items} == {"done"}
    assert (run.created, run.skipped, run.total_items, run.status) == (7, 1, 8, "succeeded")
    assert str(run.period) == "2026-10-01"


def test_month_end_counts_are_frozen_at_close(session_factory, settings, world):
    sync(session_factory, settings, world)
    with session_factory.begin() as session:  # back-dated change to the closed month
        add_seats(
            session,
            world.partner_id,
            world.companies["ext-000"],
            world.products["pb-business"],
            3,
            prefix="late",
            start=datetime(2026, 10, 15, tzinfo=UTC),
        )

    report = sync(session_factory, settings, world, now=NOW + timedelta(days=1))

    assert {i.action for i in report.items} == {"unchanged", "skipped"}
    assert any("frozen 1, now 4" in w for w in report.warnings)


def test_runs_left_running_by_a_dead_process_are_marked_interrupted(
    session_factory, settings, world
):
    with session_factory.begin() as session:
        dead = [
            Run(
                partner_id=world.partner_id,
                trigger=trigger,
                dry_run=dry,
                status="running",
                basis="month_end",
                started_at=started,
            )
            for trigger, dry, started in (
                ("schedule", False, NOW - timedelta(minutes=3)),
                ("manual", True, NOW - timedelta(hours=2)),
                ("manual", True, NOW - timedelta(minutes=1)),
            )
        ]
        session.add_all(dead)

    report = sync(session_factory, settings, world)

    with session_factory() as session:
        statuses = [session.get(Run, r.id).status for r in dead]
        assert session.get(Run, report.run_id).status == "succeeded"
    assert statuses == ["interrupted", "interrupted", "running"]  # a fresh preview may be alive


class CountingClient:
    """Wraps the real client and remembers how many calls were in flight at once."""

    def __init__(self, client):
        self.client, self.lock, self.now, self.peak = client, threading.Lock(), 0, 0

    def __getattr__(self, name):
        method = getattr(self.client, name)

        def call(*args, **kwargs):
            with self.lock:
                self.now += 1
                self.peak = max(self.peak, self.now)
            try:
                return method(*args, **kwargs)
            finally:
                with self.lock:
                    self.now -= 1

        return call


@pytest.mark.parametrize("concurrency", [1, 3])
def test_connectwise_calls_never_exceed_the_configured_concurrency(
    session_factory, settings, cw, cw_state, concurrency
):
    world = build_world(session_factory, settings, cw, cw_state, companies=12, rules=NO_HOLDS)
    cw_state.faults.latency_seconds = 0.02
    with session_factory.begin() as session:
        session.get(Partner, world.partner_id).sync_concurrency = concurrency
        client = CountingClient(client_for(session, settings, world.partner_id))

    report = sync(session_factory, settings, world, client=client)

    assert report.status == "succeeded"
    assert client.peak == concurrency


def test_already_running_names_the_start_in_the_partners_zone(session_factory, settings, world):
    with session_factory.begin() as session:
        session.get(Partner, world.partner_id).timezone = "Europe/Amsterdam"
    assert acquire_lease(session_factory, world.partner_id, "other-process", seconds=60)

    with pytest.raises(RunInProgress, match=r"already running \(started [\d-]+ [\d:]+ CES?T\)"):
        sync(session_factory, settings, world)

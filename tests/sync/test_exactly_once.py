"""Exactly once under real timing: fencing, unknown outcomes left to settle, duplicates loud."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from billing_sync import mappings
from billing_sync.errors import InvalidInput
from billing_sync.lease import Lease, LeaseLost, acquire_lease
from billing_sync.models import Company, CompanyMapping, Partner, RunItem, RunLease
from billing_sync.partner_connection import client_for
from billing_sync.sync import begin_run, execute_run, run_sync
from billing_sync.sync.ledger import Entry, Ledger
from billing_sync.sync.runner import _Heartbeat
from billing_sync.sync.writes import marker
from tests.sync.conftest import NOW, World, _agreement, build_world, wait_to_settle


def posts(state) -> int:
    return sum(1 for e in state.log if e.method == "POST")


def items(factory, run_id: int | None = None) -> list[RunItem]:
    with factory() as session:
        query = select(RunItem).order_by(RunItem.id)
        if run_id is not None:
            query = query.where(RunItem.run_id == run_id)
        return list(session.scalars(query))


def expire_lease(factory, partner_id: int) -> None:
    """What a frozen process sees on waking: its lease ran out and may have been taken."""
    with factory.begin() as session:
        session.execute(
            update(RunLease)
            .where(RunLease.partner_id == partner_id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )


def frozen_intent(factory, settings, world: World, external_id: str, code: str) -> int:
    """A run that committed a create intent and froze before sending it; returns the intent."""
    handle = begin_run(factory, settings, world.partner_id, now=NOW, trigger="cli")
    ledger = Ledger(
        factory,
        handle.run_id,
        world.partner_id,
        lambda: NOW,
        lease=handle.lease,
        settle_after=3.0,
    )
    entry = Entry(
        world.companies[external_id],
        world.products[code],
        world.agreements[external_id],
        "create",
        quantity_after=1,
    )
    intent = ledger.open_intent(entry)
    expire_lease(factory, world.partner_id)
    return intent.id


# -- 1. a slow POST is never sent again ---------------------------------------------------------


def test_a_post_that_commits_after_the_timeout_is_sent_once_and_settled_by_its_marker(
    session_factory, fast_settings, cw, cw_state
):
    settings = fast_settings  # request timeout 0.5 s
    world = build_world(
        session_factory, settings, cw, cw_state, companies=1, seats=lambda i: (3, 0)
    )
    cw_state.faults.post_commit_delay_seconds = 1.2  # ConnectWise commits after we gave up

    first = run_sync(session_factory, settings, world.partner_id, now=NOW)
    time.sleep(1.0)  # the slow commit lands
    cw_state.faults.post_commit_delay_seconds = 0
    early = run_sync(session_factory, settings, world.partner_id, now=NOW)
    wait_to_settle(settings)
    settled = run_sync(session_factory, settings, world.partner_id, now=NOW)

    assert posts(cw_state) == 1
    assert world.quantities() == {("ext-000", world.catalog["pb-business"]): 3.0}
    assert first.status == "partial" and "outcome unknown" in first.items[0].error
    assert early.status == "partial" and "may still land" in early.items[0].error
    assert settled.status == "succeeded" and settled.items[0].action == "unchanged"
    [intent] = [i for i in items(session_factory) if i.action == "create"]
    assert intent.state == "settled_done" and intent.addition_id is not None


# -- 6. one item's failure is one item's failure ------------------------------------------------


def test_a_409_on_one_post_fails_that_item_only_and_closes_its_intent(
    session_factory, settings, world, cw_state
):
    cw_state.faults.fail_nth_post = 2
    cw_state.faults.fail_post_status = 409

    report = run_sync(session_factory, settings, world.partner_id, now=NOW)

    errors = [i for i in report.items if i.action == "error"]
    assert report.status == "partial" and len(report.items) == 8
    assert len(errors) == 1 and "409" in errors[0].error
    assert [i for i in items(session_factory) if i.state == "intent"] == []
    assert posts(cw_state) == 7


def test_a_garbled_answer_to_a_post_is_checked_by_marker_not_sent_again(
    session_factory, settings, world, cw_state
):
    cw_state.faults.corrupt_next_posts = 1

    report = run_sync(session_factory, settings, world.partner_id, now=NOW)

    assert report.status == "succeeded", [i.error for i in report.items if i.error]
    assert posts(cw_state) == 7 and len(cw_state.records("additions")) == 7
    assert [i for i in items(session_factory) if i.state == "intent"] == []
    assert any("found on re-read" in (i.error or "") for i in items(session_factory))


# -- 2. fencing ---------------------------------------------------------------------------------


def test_a_run_that_lost_its_lease_sends_nothing_and_says_so(
    session_factory, settings, world, cw_state
):
    stalled = begin_run(session_factory, settings, world.partner_id, now=NOW, trigger="cli")
    expire_lease(session_factory, world.partner_id)  # stalled past its lease (GC, frozen VM)
    other = run_sync(session_factory, settings, world.partner_id, now=NOW)
    creates = posts(cw_state)

    late = execute_run(session_factory, settings, stalled)

    assert other.status == "succeeded" and creates == 7
    assert posts(cw_state) == creates  # the stalled run wrote nothing
    assert late.status == "interrupted" and "lost its lease" in late.message
    assert world.quantities()  # no duplicate (raises)


def test_an_intent_of_a_frozen_run_blocks_its_item_until_it_can_no_longer_land(
    session_factory, fast_settings, world, cw_state
):
    settings = fast_settings
    intent_id = frozen_intent(session_factory, settings, world, "ext-000", "pb-business")

    second = run_sync(session_factory, settings, world.partner_id, now=NOW)
    [blocked] = [i for i in second.items if i.company == "ext-000" and i.product == "pb-business"]
    # The frozen run wakes up and its POST lands after all, carrying its marker.
    with session_factory() as session:
        client = client_for(session, settings, world.partner_id)
    client.create_addition(
        world.agreements["ext-000"],
        product_id=world.catalog["pb-business"],
        quantity=1,
        effective_date=datetime(2026, 11, 1, tzinfo=UTC),
        description="late",
        marker=marker(intent_id),
    )
    wait_to_settle(settings)
    third = run_sync(session_factory, settings, world.partner_id, now=NOW)

    assert blocked.action == "error" and "may still land" in blocked.error
    assert second.status == "partial"
    assert third.status == "succeeded", [i.error for i in third.items if i.error]
    assert world.quantities()[("ext-000", world.catalog["pb-business"])] == 1.0  # one, not two
    settled = [i for i in items(session_factory) if i.id == intent_id][0]
    assert settled.state == "settled_done" and settled.settled_by_run_id == third.run_id


def test_an_intent_that_never_landed_is_settled_failed_and_created_once(
    session_factory, fast_settings, world, cw_state
):
    settings = fast_settings
    intent_id = frozen_intent(session_factory, settings, world, "ext-000", "pb-business")
    wait_to_settle(settings)

    report = run_sync(session_factory, settings, world.partner_id, now=NOW)

    assert report.status == "succeeded"
    assert [i.state for i in items(session_factory) if i.id == intent_id] == ["settled_failed"]
    assert world.quantities()[("ext-000", world.catalog["pb-business"])] == 1.0


def test_complete_moves_only_an_intent_that_is_still_open(session_factory, settings, world):
    handle = begin_run(session_factory, settings, world.partner_id, now=NOW, trigger="cli")
    ledger = Ledger(
        session_factory, handle.run_id, world.partner_id, lambda: NOW, lease=handle.lease
    )
    intent = ledger.open_intent(Entry(None, None, 1, "create", quantity_after=1))
    with session_factory.begin() as session:
        session.execute(
            update(RunItem).where(RunItem.id == intent.id).values(state="settled_failed")
        )

    assert ledger.complete(intent.id, "done", addition_id=5) is False
    [row] = [i for i in items(session_factory) if i.id == intent.id]
    assert (row.state, row.addition_id) == ("settled_failed", None)


def test_an_intent_is_refused_once_the_lease_is_lost(session_factory, settings, world):
    lease = acquire_lease(session_factory, world.partner_id, "me", seconds=60)
    ledger = Ledger(session_factory, 1, world.partner_id, lambda: NOW, lease=lease)
    expire_lease(session_factory, world.partner_id)
    assert acquire_lease(session_factory, world.partner_id, "someone-else", seconds=60)

    with pytest.raises(LeaseLost):
        ledger.open_intent(Entry(None, None, 1, "create", quantity_after=1))
    assert [i for i in items(session_factory) if i.state == "intent"] == []


def test_an_expired_lease_refuses_an_intent_even_when_nobody_took_it(
    session_factory, settings, world
):
    lease = acquire_lease(session_factory, world.partner_id, "me", seconds=60)
    ledger = Ledger(session_factory, 1, world.partner_id, lambda: NOW, lease=lease)
    expire_lease(session_factory, world.partner_id)  # stalled past it; no other run yet

    with pytest.raises(LeaseLost):
        ledger.open_intent(Entry(None, None, 1, "create", quantity_after=1))


def test_lease_tokens_rise_with_every_acquisition(session_factory, world):
    first = acquire_lease(session_factory, world.partner_id, "a", seconds=60)
    expire_lease(session_factory, world.partner_id)
    second = acquire_lease(session_factory, world.partner_id, "b", seconds=60)

    assert isinstance(first, Lease) and second.token > first.token


# -- 3. the heartbeat -------------------------------------------------------------------------


class FailingFactory:
    """A session factory whose transactions fail, as when the database goes away."""

    def begin(self):
        raise OperationalError("UPDATE run_leases", {}, Exception("server closed the connection"))


def test_one_database_error_in_the_heartbeat_marks_the_run_lost(settings):
    from dataclasses import replace

    from billing_sync.sync.runner import RunHandle

    handle = RunHandle(1, 1, Lease(1, "me", 1), NOW, "cli", False)
    lost = threading.Event()
    beat = _Heartbeat(
        FailingFactory(), replace(settings, lease_seconds=1), handle, lambda: NOW, lost
    )

    beat.start()
    beat.join(5)

    assert lost.is_set() and not beat.is_alive()


# -- 4. one agreement, one vendor company -------------------------------------------------------


def test_mapping_a_second_company_onto_an_agreement_is_refused_naming_the_holder(
    session_factory, world, cw_state
):
    with session_factory.begin() as session:
        other = Company(partner_id=world.partner_id, external_id="ext-new", name="Newcomer")
        session.add(other)
        session.flush()
        agreement = cw_state.table("agreements")[world.agreements["ext-000"]]
        with pytest.raises(InvalidInput, match=r"already carries Customer 000 \(ext-000\)"):
            mappings.save_mapping(
                session,
                other,
                agreement["company"]["id"],
                _agreement(agreement),
                matched_by="manual",
                now=NOW,
            )


def test_companies_already_sharing_an_agreement_are_errors_and_nothing_is_written(
    session_factory, settings, world, cw_state
):
    holder = cw_state.table("agreements")[world.agreements["ext-000"]]["company"]["id"]
    with session_factory.begin() as session:  # a row written before the rule existed
        session.execute(
            update(CompanyMapping)
            .where(CompanyMapping.company_id == world.companies["ext-001"])
            .values(agreement_id=world.agreements["ext-000"], cw_company_id=holder)
        )

    report = run_sync(session_factory, settings, world.partner_id, now=NOW)

    shared = [i for i in report.items if i.company in ("ext-000", "ext-001")]
    assert {i.action for i in shared} == {"error"}
    assert all("also mapped to" in i.error for i in shared)
    assert not [
        a for a in cw_state.records("additions") if a["agreementId"] == world.agreements["ext-000"]
    ]
    assert report.status == "partial"
    assert any("mapped to several vendor companies" in w for w in report.warnings)


def test_automatch_of_two_same_named_companies_maps_one_and_says_why_not_the_other(
    session_factory, settings, world, cw_state
):
    cw_company = cw_state.add_company(name="Twin Corp")
    cw_state.add_agreement(company_id=cw_company["id"], name="Twin MSA")
    with session_factory.begin() as session:
        for n in (1, 2):
            session.add(
                Company(partner_id=world.partner_id, external_id=f"twin-{n}", name="Twin Corp")
            )
    with (
        session_factory.begin() as session,
        client_for(session, settings, world.partner_id) as client,
    ):
        proposals = mappings.automatch(session, world.partner_id, client, now=NOW)

    twins = [p for p in proposals if p.cw_company and p.cw_company.id == cw_company["id"]]
    assert sorted(p.agreement is not None for p in twins) == [False, True]
    assert "already carries Twin Corp" in [p.reason for p in twins if p.agreement is None][0]


def test_a_catalog_item_carries_one_vendor_product(session_factory, world, cw_state):
    from billing_sync import catalog
    from tests.sync.conftest import _catalog

    item = cw_state.table("catalog")[world.catalog["pb-business"]]
    with session_factory.begin() as session:
        premium = catalog.get_product(session, "pb-premium")
        with pytest.raises(InvalidInput, match="already bills vendor product pb-business"):
            catalog.map_product(session, world.partner_id, premium, _catalog(item), now=NOW)


# -- 5. never an older month --------------------------------------------------------------------


def test_a_zone_moved_west_never_pushes_an_older_month(session_factory, settings, world, cw_state):
    december = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # November closed in UTC
    first = run_sync(session_factory, settings, world.partner_id, now=december)
    with session_factory.begin() as session:
        session.get(Partner, world.partner_id).timezone = "America/Los_Angeles"
    writes_before = len([e for e in cw_state.log if e.method in ("POST", "PATCH")])

    second = run_sync(
        session_factory, settings, world.partner_id, now=december + timedelta(minutes=30)
    )

    assert first.status == "succeeded"
    assert len([e for e in cw_state.log if e.method in ("POST", "PATCH")]) == writes_before
    pushed = [i for i in second.items if i.action == "skipped" and i.error]
    assert pushed and all("2026-10 is older than 2026-11" in i.error for i in pushed)


# -- 7. intents on an agreement that fails its checks ---------------------------------------------


def test_intents_on_an_agreement_that_became_unusable_are_settled(
    session_factory, fast_settings, world, cw_state
):
    settings = fast_settings
    intent_id = frozen_intent(session_factory, settings, world, "ext-002", "pb-business")
    with cw_state.lock:
        cw_state.table("agreements")[world.agreements["ext-002"]]["agreementStatus"] = "Cancelled"
    wait_to_settle(settings)

    report = run_sync(session_factory, settings, world.partner_id, now=NOW)

    assert {i.action for i in report.items if i.company == "ext-002"} == {"error"}
    assert [i.state for i in items(session_factory) if i.id == intent_id] == ["settled_failed"]


# -- ConnectWise facts -----------------------------------------------------------------------


def test_creates_start_at_the_bill_start_date_and_carry_the_marker_never_less_included(
    session_factory, settings, world, cw_state
):
    agreement = cw_state.table("agreements")[world.agreements["ext-000"]]
    with cw_state.lock:
        agreement["billStartDate"] = "2026-11-20T00:00:00Z"
        agreement["nextInvoiceDate"] = "2026-12-01T00:00:00Z"
        agreement["prorateFlag"] = True

    report = run_sync(session_factory, settings, world.partner_id, now=NOW)

    bodies = [e.body for e in cw_state.log if e.method == "POST"]
    assert report.status == "succeeded"
    assert all(
        "lessIncluded" not in b and b["serialNumber"].startswith("billing-sync:") for b in bodies
    )
    ours = [a for a in cw_state.records("additions") if a["agreementId"] == agreement["id"]]
    assert {a["effectiveDate"] for a in ours} == {"2026-11-20T00:00:00Z"}
    others = [a for a in cw_state.records("additions") if a["agreementId"] != agreement["id"]]
    assert {a["effectiveDate"] for a in others} == {"2026-11-01T00:00:00Z"}
    created = [
        i for i in items(session_factory, report.run_id) if i.agreement_id == agreement["id"]
    ]
    assert {
        (str(i.next_invoice_date), i.prorate_flag) for i in created if i.action == "create"
    } == {("2026-12-01", True)}


def test_a_bundle_cannot_be_mapped(session_factory, world, cw_state):
    from billing_sync import catalog
    from billing_sync.connectwise.records import CatalogItem

    bundle = CatalogItem(999, "BUNDLE", "A bundle", False, product_class="Bundle")
    with session_factory.begin() as session:
        product = catalog.add_product(session, "pb-extra", "Extra")
        with pytest.raises(InvalidInput, match="bundle"):
            catalog.map_product(session, world.partner_id, product, bundle, now=NOW)


# -- Apply is the preview ---------------------------------------------------------------------


def test_apply_carries_out_the_preview_and_marks_what_changed_since(
    session_factory, settings, world, cw_state
):
    preview = run_sync(session_factory, settings, world.partner_id, now=NOW, dry_run=True)
    cw_state.add_addition(
        world.agreements["ext-003"], world.catalog["pb-premium"], quantity=7
    )  # someone adds one by hand after the preview (7 -> 3 is too small a fall to hold)

    applied = run_sync(
        session_factory, settings, world.partner_id, now=NOW, preview_run_id=preview.run_id
    )

    rows = items(session_factory, applied.run_id)
    replanned = {(r.company_id, r.product_id) for r in rows if r.replanned}
    assert replanned == {(world.companies["ext-003"], world.products["pb-premium"])}
    assert [
        i.action for i in applied.items if i.company == "ext-003" and i.product == "pb-premium"
    ] == ["update"]
    assert applied.status == "succeeded"
    assert "Customer" not in " ".join(preview.left_out)  # every company is mapped here


def test_the_preview_names_companies_left_out(session_factory, settings, world):
    with session_factory.begin() as session:
        company = session.get(Company, world.companies["ext-001"])
        mappings.exclude_company(session, company, now=NOW)

    preview = run_sync(session_factory, settings, world.partner_id, now=NOW, dry_run=True)

    assert preview.left_out == ["Customer 001 (excluded)"]
    assert any("left out: Customer 001 (excluded)" in w for w in preview.warnings)

"""Agreement replacement on the simulator: found by runs, accepted, dismissed, gone stale."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from billing_sync import mappings, partner_connection
from billing_sync.agreement_suggestions import (
    accept,
    dismiss,
    ended_summary,
    open_for_company,
    replace_to,
    suggest_now,
)
from billing_sync.errors import Conflict, InvalidInput, NotFoundError
from billing_sync.models import AgreementReplacement, CompanyMapping
from billing_sync.orphans import find_orphans
from billing_sync.sync import run_sync
from tests.sync.conftest import NOW, build_world

LATER = datetime(2026, 10, 1, tzinfo=UTC)


def end(state, agreement_id: int, how: str = "cancel") -> None:
    """Cancel (or expire) an agreement in the simulator, as a person would in ConnectWise."""
    with state.lock:
        record = state.table("agreements")[agreement_id]
        if how == "cancel":
            record["cancelledFlag"] = True
        else:
            record["agreementStatus"] = "Expired"


def newer(state, world, external: str, name: str = "MSA 2027", **kwargs) -> int:
    cw_company = state.get("agreements", world.agreements[external])["company"]["id"]
    return state.add_agreement(cw_company, name, start_date=LATER, **kwargs)["id"]


def suggestions(factory) -> list[AgreementReplacement]:
    with factory() as session:
        return list(session.scalars(select(AgreementReplacement).order_by(AgreementReplacement.id)))


def mapped_agreement(factory, world, external: str) -> int:
    with factory() as session:
        company = mappings.get_company(session, world.partner_id, external)
        return mappings.get_mapping(session, company).agreement_id


@pytest.fixture
def synced(session_factory, settings, cw, cw_state):
    world = build_world(session_factory, settings, cw, cw_state, companies=3)
    assert run_sync(session_factory, settings, world.partner_id, now=NOW).status == "succeeded"
    return world


def client(factory, settings, world):
    with factory() as session:
        return partner_connection.client_for(session, settings, world.partner_id)


def test_a_run_suggests_the_one_newer_agreement_and_never_remaps(
    session_factory, settings, cw_state, synced
):
    old = synced.agreements["ext-001"]
    end(cw_state, old)
    new = newer(cw_state, synced, "ext-001")
    cw_state.clear_log()

    report = run_sync(session_factory, settings, synced.partner_id, now=NOW)

    assert report.status == "partial"  # the ended agreement's items are errors, as before
    [row] = suggestions(session_factory)
    assert (row.old_agreement_id, row.new_agreement_id, row.status) == (old, new, "open")
    assert row.old_reason == "cancelled" and row.new_agreement_name == "MSA 2027"
    assert mapped_agreement(session_factory, synced, "ext-001") == old  # never silently
    grouped = [
        e for e in cw_state.log if e.path.endswith("/finance/agreements") and e.method == "GET"
    ]
    assert sum("company/id in" in e.query.get("conditions", [""])[0] for e in grouped) == 1
    with session_factory() as session:
        assert ended_summary(session, synced.partner_id).__dict__ == {"ended": 1, "suggested": 1}
    # A second run finds the same pair: no second row.
    run_sync(session_factory, settings, synced.partner_id, now=NOW)
    assert len(suggestions(session_factory)) == 1


def test_two_newer_agreements_or_none_give_no_suggestion_and_say_why(
    session_factory, settings, cw_state, synced
):
    end(cw_state, synced.agreements["ext-000"], "expire")
    newer(cw_state, synced, "ext-000", "First")
    newer(cw_state, synced, "ext-000", "Second")
    end(cw_state, synced.agreements["ext-002"])

    run_sync(session_factory, settings, synced.partner_id, now=NOW)
    assert suggestions(session_factory) == []
    with session_factory() as session, client(session_factory, settings, synced) as cw:
        found = {f.company_id: f for f in suggest_now(session, synced.partner_id, cw, NOW)}

    assert found[synced.companies["ext-000"]].reason == (
        "2 active agreements: choose one on the company page"
    )
    assert found[synced.companies["ext-000"]].old_reason == "expired"
    assert found[synced.companies["ext-002"]].reason == "no active agreement: create one"
    assert suggestions(session_factory) == []


def test_a_different_type_is_no_replacement(session_factory, settings, cw_state, synced):
    end(cw_state, synced.agreements["ext-001"])
    newer(cw_state, synced, "ext-001", type_name="Block Time")

    run_sync(session_factory, settings, synced.partner_id, now=NOW)

    assert suggestions(session_factory) == []


def test_accepting_repoints_the_mapping_and_the_next_run_bills_the_new_agreement(
    session_factory, settings, cw_state, synced
):
    old = synced.agreements["ext-001"]
    old_additions = sorted(a["id"] for a in synced.additions("ext-001"))
    end(cw_state, old)
    new = newer(cw_state, synced, "ext-001")
    run_sync(session_factory, settings, synced.partner_id, now=NOW)
    [row] = suggestions(session_factory)

    with session_factory() as session, client(session_factory, settings, synced) as cw:
        accept(session, cw, synced.partner_id, row.id, user="admin@msp.test", now=NOW)
        session.commit()
    cw_state.clear_log()
    report = run_sync(session_factory, settings, synced.partner_id, now=NOW)

    [row] = suggestions(session_factory)
    assert (row.status, row.decided_by) == ("accepted", "admin@msp.test")
    assert row.decided_at is not None
    assert mapped_agreement(session_factory, synced, "ext-001") == new
    assert report.status == "succeeded"
    on_new = cw_state.additions(new, include_cancelled=False)
    assert sorted(a["quantity"] for a in on_new) == [1.0, 2.0]
    written = [e for e in cw_state.log if e.method in ("POST", "PATCH", "PUT")]
    assert written and all(f"/agreements/{new}/" in e.path for e in written)
    with session_factory() as session, client(session_factory, settings, synced) as cw:
        orphans, _facts = find_orphans(session, cw, synced.partner_id, now=NOW)
    left = [o for o in orphans.orphans if o.kind == "left_behind"]
    assert sorted(o.addition_id for o in left) == old_additions
    assert {o.agreement_id for o in left} == {old}
    with session_factory() as session:
        assert ended_summary(session, synced.partner_id).__dict__ == {"ended": 0, "suggested": 0}


def test_accept_rereads_the_new_agreement(session_factory, settings, cw_state, synced):
    end(cw_state, synced.agreements["ext-001"])
    new = newer(cw_state, synced, "ext-001")
    run_sync(session_factory, settings, synced.partner_id, now=NOW)
    [row] = suggestions(session_factory)
    end(cw_state, new)  # cancelled after the suggestion

    with session_factory() as session, client(session_factory, settings, synced) as cw:
        with pytest.raises(InvalidInput, match="is cancelled"):
            accept(session, cw, synced.partner_id, row.id, user="a", now=NOW)
        session.rollback()
    assert mapped_agreement(session_factory, synced, "ext-001") == synced.agreements["ext-001"]


def test_accept_refuses_an_agreement_another_company_holds(
    session_factory, settings, cw_state, synced
):
    end(cw_state, synced.agreements["ext-001"])
    cw_company = cw_state.get("agreements", synced.agreements["ext-001"])["company"]["id"]
    with cw_state.lock:  # ext-002's agreement moves under ext-001's CW company
        cw_state.table("agreements")[synced.agreements["ext-002"]]["company"]["id"] = cw_company
    taken = synced.agreements["ext-002"]
    with (
        session_factory() as session,
        client(session_factory, settings, synced) as cw,
        pytest.raises(InvalidInput, match="already carries Customer 002"),
    ):
        replace_to(session, cw, synced.partner_id, "ext-001", taken, user="a", now=NOW)


def test_dismissed_pairs_are_not_suggested_again(session_factory, settings, cw_state, synced):
    end(cw_state, synced.agreements["ext-001"])
    newer(cw_state, synced, "ext-001")
    run_sync(session_factory, settings, synced.partner_id, now=NOW)
    [row] = suggestions(session_factory)

    with session_factory.begin() as session:
        dismiss(session, synced.partner_id, row.id, user="admin", now=NOW)
    run_sync(session_factory, settings, synced.partner_id, now=NOW)

    [row] = suggestions(session_factory)
    assert row.status == "dismissed"
    with session_factory() as session:
        assert open_for_company(session, synced.companies["ext-001"]) is None
        with pytest.raises(Conflict):
            dismiss(session, synced.partner_id, row.id, user="admin", now=NOW)


def test_suggestions_go_stale_when_the_old_agreement_returns_or_the_mapping_moves(
    session_factory, settings, cw_state, synced
):
    for external in ("ext-000", "ext-001"):
        end(cw_state, synced.agreements[external])
        newer(cw_state, synced, external)
    run_sync(session_factory, settings, synced.partner_id, now=NOW)
    assert [r.status for r in suggestions(session_factory)] == ["open", "open"]

    with cw_state.lock:  # ext-000's old agreement is active again
        cw_state.table("agreements")[synced.agreements["ext-000"]]["cancelledFlag"] = False
    with session_factory.begin() as session:  # ext-001 is excluded by hand
        company = mappings.get_company(session, synced.partner_id, "ext-001")
        mappings.exclude_company(session, company, now=NOW)
    run_sync(session_factory, settings, synced.partner_id, now=NOW)

    assert [r.status for r in suggestions(session_factory)] == ["stale", "stale"]
    first = suggestions(session_factory)[0].id
    with (
        session_factory() as session,
        client(session_factory, settings, synced) as cw,
        pytest.raises(Conflict, match="stale"),
    ):
        accept(session, cw, synced.partner_id, first, user="a", now=NOW)


def test_another_partners_suggestion_is_not_found(session_factory, settings, cw_state, synced):
    end(cw_state, synced.agreements["ext-001"])
    newer(cw_state, synced, "ext-001")
    run_sync(session_factory, settings, synced.partner_id, now=NOW)
    [row] = suggestions(session_factory)
    with session_factory() as session, pytest.raises(NotFoundError):
        dismiss(session, synced.partner_id + 1, row.id, user="x", now=NOW)


def test_a_preview_suggests_too(session_factory, settings, cw_state, synced):
    end(cw_state, synced.agreements["ext-001"])
    newer(cw_state, synced, "ext-001")

    run_sync(session_factory, settings, synced.partner_id, now=NOW, dry_run=True)

    assert [r.status for r in suggestions(session_factory)] == ["open"]
    with session_factory() as session:
        mapping = session.scalar(
            select(CompanyMapping).where(CompanyMapping.company_id == synced.companies["ext-001"])
        )
        assert mapping.agreement_id == synced.agreements["ext-001"]


def test_a_run_with_no_ended_agreement_reads_nothing_more(
    session_factory, settings, cw_state, synced
):
    cw_state.clear_log()

    run_sync(session_factory, settings, synced.partner_id, now=NOW)

    listings = [e.query.get("conditions", [""])[0] for e in cw_state.log if e.method == "GET"]
    assert not any("company/id" in c for c in listings)
    assert suggestions(session_factory) == []

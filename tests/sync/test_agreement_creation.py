"""Creating the agreement for a new customer on the simulator: exactly once, then mapped."""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from billing_sync import mappings, partner_connection
from billing_sync.agreement_creation import CreationRequest, create_for_company
from billing_sync.agreement_terms import marker
from billing_sync.errors import Conflict, InvalidInput
from billing_sync.models import AgreementCreation, Company
from tests.sync.conftest import NOW, build_world


class Wrapped:
    """The real client; `before_post` runs just before the one agreement POST (a fault switch)."""

    def __init__(self, client, before_post=None, after_post=None):
        self._client, self._before, self._after = client, before_post, after_post

    def __getattr__(self, name):
        return getattr(self._client, name)

    def create_agreement(self, body):
        if self._before:
            self._before()
        try:
            return self._client.create_agreement(body)
        finally:
            if self._after:
                self._after()


@pytest.fixture
def newco(session_factory, settings, cw, cw_state):
    """A world, plus vendor company `ext-new` whose ConnectWise company has no agreement."""
    world = build_world(session_factory, settings, cw, cw_state, companies=1)
    cw_company = cw_state.add_company(name="Newco")
    with session_factory.begin() as session:
        session.add(Company(partner_id=world.partner_id, external_id="ext-new", name="Newco"))
    world.companies["cw-new"] = cw_company["id"]
    return world


def request(world, **overrides) -> CreationRequest:
    values = dict(
        partner_id=world.partner_id,
        external_id="ext-new",
        cw_company_id=world.companies["cw-new"],
        template_id=world.agreements["ext-000"],
        user="admin@msp.test",
    )
    values.update(overrides)
    return CreationRequest(**values)


def create(factory, settings, world, wrap=None, at=NOW, **overrides):
    with factory() as session:
        client = partner_connection.client_for(session, settings, world.partner_id)
    with client:
        used = wrap(client) if wrap else client
        return create_for_company(factory, settings, used, request(world, **overrides), at)


def agreements_of(state, cw_company_id: int) -> list[dict]:
    return [a for a in state.records("agreements") if a["company"]["id"] == cw_company_id]


def mapping_of(factory, world):
    with factory() as session:
        company = mappings.get_company(session, world.partner_id, "ext-new")
        return mappings.get_mapping(session, company)


def creations(factory) -> list[AgreementCreation]:
    with factory() as session:
        return list(session.scalars(select(AgreementCreation).order_by(AgreementCreation.id)))


def test_create_posts_once_from_the_template_and_maps(session_factory, settings, cw_state, newco):
    cw_state.clear_log()
    result = create(session_factory, settings, newco)

    [made] = agreements_of(cw_state, newco.companies["cw-new"])
    assert result.creation.state == "done" and result.creation.agreement_id == made["id"]
    assert made["name"] == "Newco - per-user licences"
    assert made["internalNotes"] == marker(result.creation.id)
    assert made["startDate"] == "2026-12-01T00:00:00Z"  # the first of next month
    assert made["billingCycle"]["id"] == 1 and made["type"]["name"] == "Managed Services"
    api = [(e.method, e.path_template) for e in cw_state.log if "/apis/" in e.path]
    assert api == [
        ("GET", "/company/companies/{id}"),  # not deleted; its default contact
        ("GET", "/finance/agreements"),  # no active agreement yet
        ("GET", "/finance/agreements/{id}"),  # the template
        ("POST", "/finance/agreements"),  # once
        ("GET", "/finance/agreements"),  # the new agreement, re-read before mapping
    ]
    [post] = [e for e in cw_state.log if e.method == "POST"]
    assert post.body["company"] == {"id": newco.companies["cw-new"]}
    assert post.body["contact"] == {"id": newco.companies["cw-new"]}  # the company's default
    mapping = mapping_of(session_factory, newco)
    assert (mapping.agreement_id, mapping.matched_by) == (made["id"], "manual")
    [row] = creations(session_factory)
    assert row.requested_by == "admin@msp.test" and row.completed_at is not None
    assert row.settle_after is not None and row.start_date == date(2026, 12, 1)
    with pytest.raises(Conflict, match="made agreement"):
        create(session_factory, settings, newco)
    assert len(agreements_of(cw_state, newco.companies["cw-new"])) == 1


def test_a_later_choice_of_the_admin_is_never_overwritten(
    session_factory, settings, cw_state, newco
):
    create(session_factory, settings, newco)
    with session_factory.begin() as session:  # the admin excludes the company afterwards
        company = mappings.get_company(session, newco.partner_id, "ext-new")
        mappings.exclude_company(session, company, now=NOW + timedelta(minutes=5))

    with pytest.raises(Conflict, match="made agreement"):
        create(session_factory, settings, newco, at=NOW + timedelta(minutes=10))

    assert mapping_of(session_factory, newco).status == "excluded"
    assert len(agreements_of(cw_state, newco.companies["cw-new"])) == 1


def test_a_lost_answer_is_found_by_its_marker_before_any_retry(
    session_factory, settings, cw_state, newco
):
    cw_state.faults.lose_next_posts = 1

    first = create(session_factory, settings, newco)

    assert first.creation.state == "intent" and "may still" in first.message
    assert mapping_of(session_factory, newco) is None
    second = create(session_factory, settings, newco)
    [made] = agreements_of(cw_state, newco.companies["cw-new"])
    assert [c.state for c in creations(session_factory)] == ["settled_done"]
    assert second.creation.agreement_id == made["id"]
    assert mapping_of(session_factory, newco).agreement_id == made["id"]
    assert sum(e.method == "POST" for e in cw_state.log) == 1


def test_no_answer_and_nothing_created_waits_then_a_retry_creates_one(
    session_factory, fast_settings, cw_state, newco
):
    def down():
        cw_state.faults.server_error_probability = 1.0

    def up():
        cw_state.faults.server_error_probability = 0.0

    first = create(session_factory, fast_settings, newco, lambda c: Wrapped(c, down, up))
    assert first.creation.state == "intent"

    with pytest.raises(Conflict, match="wait until 2026-11-05 12:00:03 UTC"):
        create(session_factory, fast_settings, newco, at=NOW + timedelta(seconds=2))
    again = create(session_factory, fast_settings, newco, at=NOW + timedelta(seconds=4))

    assert [c.state for c in creations(session_factory)] == ["settled_failed", "done"]
    [made] = agreements_of(cw_state, newco.companies["cw-new"])
    assert again.creation.agreement_id == made["id"]
    assert made["internalNotes"] == marker(again.creation.id)


def test_a_refusal_creates_nothing_and_a_retry_is_a_new_intent(
    session_factory, settings, cw_state, newco
):
    cw_id = newco.companies["cw-new"]
    kept = {}

    def hide_company():  # ConnectWise then answers 400: the company reference is unknown
        with cw_state.lock:
            kept["company"] = cw_state.table("companies").pop(cw_id)

    def restore():
        with cw_state.lock:
            cw_state.table("companies")[cw_id] = kept["company"]

    refused = create(session_factory, settings, newco, lambda c: Wrapped(c, hide_company, restore))
    assert refused.creation.state == "failed" and "refused" in refused.message
    assert agreements_of(cw_state, cw_id) == []

    again = create(session_factory, settings, newco)

    assert [c.state for c in creations(session_factory)] == ["failed", "done"]
    assert len(agreements_of(cw_state, cw_id)) == 1 and again.creation.agreement_id


def test_two_requests_at_once_make_one_agreement(session_factory, settings, cw_state, newco):
    cw_state.faults.latency_seconds = 0.05
    outcomes, barrier = [], threading.Barrier(2)

    def click():
        barrier.wait()
        try:
            outcomes.append(create(session_factory, settings, newco).creation.state)
        except Conflict as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=click) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert len(agreements_of(cw_state, newco.companies["cw-new"])) == 1
    assert len(creations(session_factory)) == 1
    assert "done" in outcomes and len(outcomes) == 2


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"start": date(2026, 11, 1)}, "in the past"),
        ({"name": "x" * 101}, "at most 100"),
        ({"external_id": "nope"}, "no company with external id"),
    ],
)
def test_bad_requests_are_refused_before_anything_is_sent(
    session_factory, settings, cw_state, newco, overrides, message
):
    with pytest.raises((InvalidInput, LookupError), match=message):
        create(session_factory, settings, newco, **overrides)
    assert creations(session_factory) == []
    assert not any(e.method == "POST" for e in cw_state.log)


def test_a_company_with_an_active_agreement_is_told_to_map_it(
    session_factory, settings, cw_state, newco
):
    cw_state.add_agreement(newco.companies["cw-new"], "Existing")
    with pytest.raises(InvalidInput, match="already has an active agreement"):
        create(session_factory, settings, newco, name="Mine", start=date(2026, 12, 15))
    assert creations(session_factory) == []


def test_name_and_start_may_be_chosen(session_factory, settings, cw_state, newco):
    result = create(session_factory, settings, newco, name="  Newco  MSP ", start=date(2027, 1, 1))
    [made] = agreements_of(cw_state, newco.companies["cw-new"])
    assert made["name"] == "Newco MSP" and made["startDate"] == "2027-01-01T00:00:00Z"
    assert result.creation.name == "Newco MSP"


def test_a_slow_commit_past_the_timeout_is_waited_for_then_found(
    session_factory, fast_settings, cw_state, newco
):
    def slow():  # the server takes longer than the client waits, then commits anyway
        cw_state.faults.latency_seconds = 1.5

    def fast():
        cw_state.faults.latency_seconds = 0.0

    first = create(session_factory, fast_settings, newco, lambda c: Wrapped(c, slow, fast))
    assert first.creation.state == "intent"
    with pytest.raises(Conflict, match="wait until"):
        create(session_factory, fast_settings, newco, at=NOW + timedelta(seconds=1))

    time.sleep(1.6)  # the server's commit lands
    later = create(session_factory, fast_settings, newco, at=NOW + timedelta(seconds=2))

    [made] = agreements_of(cw_state, newco.companies["cw-new"])
    assert later.creation.state == "settled_done" and later.creation.agreement_id == made["id"]
    assert mapping_of(session_factory, newco).agreement_id == made["id"]

"""The pure rules of issue 14's agreement parts: replacement candidates and creation defaults."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from billing_sync.agreement_replacement import ended_findings, find_replacement
from billing_sync.agreement_terms import (
    agreement_body,
    checked_name,
    checked_start,
    default_name,
    first_of_next_month,
    terms_from,
)
from billing_sync.connectwise.records import Agreement
from billing_sync.errors import InvalidInput

NOW = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)


def agreement(id: int, *, start=None, status="Active", cancelled=False, type_name="MSP", cw=10):
    started = datetime(*start, tzinfo=UTC) if start else None
    return Agreement(
        id, f"A{id}", cw, "Cust", status, cancelled, None, True, type_name, start_date=started
    )


OLD = agreement(5, start=(2025, 1, 1), cancelled=True)


def test_an_active_agreement_needs_no_replacement():
    assert find_replacement(1, agreement(5), [agreement(6, start=(2026, 1, 1))], NOW) is None


def test_one_newer_active_agreement_is_suggested():
    found = find_replacement(1, OLD, [OLD, agreement(6, start=(2026, 1, 1))], NOW)
    assert found.new.id == 6 and found.old_reason == "cancelled"


def test_two_newer_active_agreements_give_no_suggestion_but_a_reason():
    found = find_replacement(
        1, OLD, [agreement(6, start=(2026, 1, 1)), agreement(7, start=(2026, 2, 1))], NOW
    )
    assert found.new is None
    assert found.reason == "2 active agreements: choose one on the company page"


def test_no_active_agreement_says_create_one():
    found = find_replacement(1, OLD, [agreement(6, start=(2026, 1, 1), status="Expired")], NOW)
    assert found.new is None and found.reason == "no active agreement: create one"


@pytest.mark.parametrize(
    ("candidate", "why"),
    [
        (agreement(6, start=(2024, 1, 1)), "older start"),
        (agreement(6, start=(2026, 1, 1), type_name="Block Time"), "other type"),
        (agreement(6, start=(2026, 1, 1), cw=11), "another company"),
        (agreement(6, start=(2026, 1, 1), cancelled=True), "cancelled too"),
    ],
)
def test_only_newer_active_same_type_agreements_of_the_company_count(candidate, why):
    assert find_replacement(1, OLD, [candidate], NOW).new is None, why


def test_without_start_dates_a_higher_id_is_newer_and_missing_types_match():
    old = agreement(5, cancelled=True, type_name=None)
    assert find_replacement(1, old, [agreement(4), agreement(6)], NOW).new.id == 6


def test_findings_group_agreements_by_company():
    other_old = agreement(8, start=(2025, 1, 1), status="Expired", cw=11)
    found = ended_findings(
        {1: OLD, 2: other_old, 3: agreement(9)},
        [agreement(6, start=(2026, 1, 1)), agreement(12, start=(2026, 1, 1), cw=11)],
        NOW,
    )
    assert [(f.company_id, f.new.id) for f in found] == [(1, 6), (2, 12)]


def test_the_default_name_fits_one_hundred_characters():
    assert default_name("Acme  Ltd") == "Acme Ltd - per-user licences"
    long = default_name("x" * 300)
    assert len(long) == 100 and long.endswith(" - per-user licences")
    with pytest.raises(InvalidInput):
        checked_name("y" * 101, "Acme")
    assert checked_name("  ", "Acme") == "Acme - per-user licences"


def test_the_start_defaults_to_the_first_of_next_month_in_the_partners_zone():
    late = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)  # already January in Amsterdam
    assert first_of_next_month(late, ZoneInfo("Europe/Amsterdam")) == date(2027, 2, 1)
    assert first_of_next_month(late, ZoneInfo("UTC")) == date(2027, 1, 1)
    assert checked_start(None, NOW, ZoneInfo("UTC")) == date(2026, 12, 1)
    assert checked_start(date(2026, 11, 5), NOW, ZoneInfo("UTC")) == date(2026, 11, 5)
    with pytest.raises(InvalidInput, match="in the past"):
        checked_start(date(2026, 11, 4), NOW, ZoneInfo("UTC"))


def test_the_body_copies_type_cycle_and_billing_flags_and_carries_the_marker():
    template = {
        "id": 3,
        "type": {"id": 2, "name": "MSP"},
        "billingCycle": {"id": 4, "name": "Quarterly"},
        "contact": {"id": 99},
        "applicationUnlimitedFlag": True,
        "billTime": "Billable",
        "internalNotes": "the template's own notes",
        "site": {"id": 1},
    }
    terms = terms_from(template, {"id": 10, "defaultContact": {"id": 77}}, "New", date(2026, 12, 1))
    body = agreement_body(terms, 10, "billing-sync:agreement:4")
    assert body == {
        "applicationUnlimitedFlag": True,
        "billTime": "Billable",
        "name": "New",
        "type": {"id": 2},
        "company": {"id": 10},
        "contact": {"id": 77},
        "startDate": "2026-12-01T00:00:00Z",
        "noEndingDateFlag": True,
        "billingCycle": {"id": 4},
        "internalNotes": "billing-sync:agreement:4",
    }


def test_a_template_without_type_or_a_company_without_contact_is_refused():
    with pytest.raises(InvalidInput, match="no agreement type"):
        terms_from({"id": 3}, {"id": 10}, "New", date(2026, 12, 1))
    with pytest.raises(InvalidInput, match="no default contact"):
        terms_from(
            {"id": 3, "type": {"id": 2}, "contact": {"id": 1}}, {"id": 10}, "N", date.today()
        )

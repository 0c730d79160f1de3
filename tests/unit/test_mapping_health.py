"""Pure pre-flight health rules: one table row per reason, on plain values."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from billing_sync.connectwise.records import Addition, Agreement, CatalogItem, CwCompany
from billing_sync.mapping_health import Observed, judge

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
AGREEMENT = Agreement(
    id=7,
    name="MSA",
    company_id=3,
    company_name="Acme",
    agreement_status="Active",
    cancelled_flag=False,
    end_date=None,
    no_ending_date_flag=True,
    type_name="Managed Services",
    bill_start_date=datetime(2024, 1, 1, tzinfo=UTC),
    next_invoice_date=date(2026, 12, 1),
    prorate_flag=False,
    start_date=datetime(2024, 1, 1, tzinfo=UTC),
    billing_cycle="Monthly",
)
ITEM = CatalogItem(11, "PB-BUS", "per user", False, "NonInventory")


def _addition(id_: int, product: int = 11) -> Addition:
    return Addition(id_, 7, product, None, 1.0, "Billable", None, None)


def seen(**changes) -> Observed:
    base = Observed(
        agreement_id=7,
        cw_company_id=3,
        agreement=AGREEMENT,
        agreement_found=True,
        company=CwCompany(3, "acme", "Acme", False, "Active"),
        company_found=True,
        catalog={11: ITEM},
        products={11: "pb-business"},
        active=(_addition(1),),
    )
    return replace(base, **changes)


def agreement(**changes) -> Agreement:
    return replace(AGREEMENT, **changes)


CASES = [
    ("agreement_missing", "red", seen(agreement=None, agreement_found=False), "does not exist"),
    (
        "other_company",
        "red",
        seen(agreement=agreement(company_id=9)),
        "belongs to ConnectWise company 9",
    ),
    ("cancelled", "red", seen(agreement=agreement(cancelled_flag=True)), "is cancelled"),
    ("inactive", "red", seen(agreement=agreement(agreement_status="Inactive")), "is inactive"),
    (
        "expired",
        "red",
        seen(
            agreement=agreement(
                no_ending_date_flag=False, end_date=datetime(2026, 10, 1, tzinfo=UTC)
            )
        ),
        "is expired",
    ),
    (
        "company_deleted",
        "red",
        seen(company=CwCompany(3, "acme", "Acme", True, None)),
        "is deleted",
    ),
    ("company_gone", "red", seen(company=None, company_found=False), "is deleted"),
    ("catalog_inactive", "red", seen(catalog={11: replace(ITEM, inactive=True)}), "is inactive"),
    ("catalog_bundle", "red", seen(catalog={11: replace(ITEM, product_class="Bundle")}), "bundle"),
    ("catalog_missing", "red", seen(catalog={11: None}), "does not exist"),
    ("duplicates", "red", seen(active=(_addition(4), _addition(5))), "additions 4, 5"),
    (
        "agreements_403",
        "red",
        seen(denied=frozenset({"agreements"})),
        "Finance > Agreements: Inquire",
    ),
    (
        "additions_403",
        "red",
        seen(denied=frozenset({"additions"})),
        "Finance > Agreements: Inquire",
    ),
    (
        "catalog_403",
        "red",
        seen(denied=frozenset({"catalog"})),
        "Procurement > Product Catalog: Inquire",
    ),
    (
        "companies_403",
        "red",
        seen(denied=frozenset({"companies"})),
        "Companies > Company Maintenance: Inquire",
    ),
    ("write_403", "red", seen(write_refused=True), "Finance > Agreements: Edit"),
    (
        "not_started",
        "amber",
        seen(agreement=agreement(bill_start_date=datetime(2026, 12, 1, tzinfo=UTC))),
        "bills from 2026-12-01",
    ),
    (
        "start_date_ahead",
        "amber",
        seen(agreement=agreement(start_date=datetime(2027, 1, 1, tzinfo=UTC))),
        "bills from 2027-01-01",
    ),
    ("quarterly", "amber", seen(agreement=agreement(billing_cycle="Quarterly")), "Quarterly"),
    (
        "no_invoice_date",
        "amber",
        seen(agreement=agreement(next_invoice_date=None)),
        "no next invoice",
    ),
    (
        "invoice_past",
        "amber",
        seen(agreement=agreement(next_invoice_date=date(2026, 11, 1))),
        "in the past",
    ),
    (
        "ends_soon",
        "amber",
        seen(
            agreement=agreement(
                no_ending_date_flag=False, end_date=datetime(2026, 12, 20, tzinfo=UTC)
            )
        ),
        "ends on 2026-12-20",
    ),
    (
        "ends_before_invoice",
        "amber",
        seen(
            agreement=agreement(
                no_ending_date_flag=False,
                end_date=datetime(2026, 11, 30, tzinfo=UTC),
                next_invoice_date=date(2026, 12, 1),
            )
        ),
        "before its next invoice",
    ),
]


@pytest.mark.parametrize(("name", "level", "observed", "says"), CASES, ids=[c[0] for c in CASES])
def test_each_rule_gives_its_level_and_names_the_fix(name, level, observed, says):
    verdict = judge(observed, NOW)

    assert verdict.level == level
    assert says in verdict.first.message
    assert verdict.first.level == level


def test_a_healthy_mapping_is_green_with_its_facts():
    verdict = judge(seen(), NOW)

    assert (verdict.level, verdict.reasons) == ("green", ())
    assert verdict.facts.to_json() == {
        "agreement_status": "Active",
        "agreement_type": "Managed Services",
        "billing_cycle": "Monthly",
        "bill_start_date": "2024-01-01",
        "next_invoice_date": "2026-12-01",
        "prorate_flag": False,
    }


def test_prorate_off_is_a_fact_not_a_warning():
    assert judge(seen(agreement=agreement(prorate_flag=False)), NOW).level == "green"


def test_unread_facts_judge_nothing():
    unread = Observed(agreement_id=7, cw_company_id=3)

    assert judge(unread, NOW).level == "green"


def test_reasons_are_worst_first_and_the_level_is_the_worst():
    observed = seen(
        agreement=agreement(billing_cycle="Annual"), active=(_addition(4), _addition(5))
    )

    verdict = judge(observed, NOW)

    assert verdict.level == "red"
    assert [r.level for r in verdict.reasons] == ["red", "amber"]


def test_an_ended_agreement_is_not_also_amber_for_its_dates():
    ended = agreement(cancelled_flag=True, next_invoice_date=None, billing_cycle="Quarterly")

    assert [r.code for r in judge(seen(agreement=ended), NOW).reasons] == ["agreement_inactive"]

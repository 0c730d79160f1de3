"""Saving hold rules: partner and company rows, defaults where unset, bad input refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from billing_sync import partners
from billing_sync.errors import InvalidInput, NotFoundError
from billing_sync.guard_rules import DEFAULT_RULES, rules_for, save_rules
from billing_sync.models import Company

NOW = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)


@pytest.fixture
def partner_ids(session):
    ids = []
    for name in ("msp", "other"):
        partner = partners.create_partner(session, name, now=NOW)
        session.flush()
        session.add(Company(partner_id=partner.id, external_id="c1", name="Acme"))
        ids.append(partner.id)
    session.flush()
    return ids


def _company(session, partner_id):
    return session.scalars(select(Company.id).where(Company.partner_id == partner_id)).one()


def test_partner_rules_overlay_defaults_and_companies_inherit_them(session, partner_ids):
    msp = partner_ids[0]
    save_rules(session, msp, None, {"rise_percent": 10, "drift_policy": "adopt"}, now=NOW)
    save_rules(session, msp, _company(session, msp), {"fall_users": 1}, now=NOW)

    rules = rules_for(session, msp)

    assert rules.partner.rise_percent == 10.0 and rules.partner.drift_policy == "adopt"
    assert rules.partner.fall_users == DEFAULT_RULES.fall_users
    company = rules.for_company(_company(session, msp))
    assert (company.rise_percent, company.fall_users) == (10.0, 1)
    assert rules_for(session, partner_ids[1]).partner == DEFAULT_RULES


def test_none_unsets_a_rule_back_to_its_default(session, partner_ids):
    save_rules(session, partner_ids[0], None, {"hold_zero": False}, now=NOW)
    save_rules(session, partner_ids[0], None, {"hold_zero": None}, now=NOW)

    assert rules_for(session, partner_ids[0]).partner.hold_zero is True


@pytest.mark.parametrize(
    "values, company, message",
    [
        ({"rise_percent": -1}, False, "rise_percent must be between"),
        ({"rise_users": 2.5}, False, "rise_users must be a whole number"),
        ({"hold_zero": "yes"}, False, "hold_zero must be true or false"),
        ({"drift_policy": "ignore"}, False, "drift_policy must be one of"),
        ({"first_run_total": 10}, True, "cannot be set for a company"),
        ({"colour": "red"}, False, "colour cannot be set"),
    ],
)
def test_bad_values_are_refused_and_change_nothing(session, partner_ids, values, company, message):
    msp = partner_ids[0]
    company_id = _company(session, msp) if company else None

    with pytest.raises(InvalidInput, match=message):
        save_rules(session, msp, company_id, values, now=NOW)
    assert rules_for(session, msp).partner == DEFAULT_RULES


def test_another_partners_company_is_not_found(session, partner_ids):
    with pytest.raises(NotFoundError):
        save_rules(session, partner_ids[0], _company(session, partner_ids[1]), {}, now=NOW)

"""The hold rules on the schedule page and a company's override on its page."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from billing_sync.guard_rules import rules_for
from billing_sync.models import GuardRule


def _text(response) -> str:
    return response.get_data(as_text=True)


def _rules(session_factory, partner_id):
    with session_factory() as session:
        return rules_for(session, partner_id)


PARTNER_FORM = {
    "rise_percent": "30",
    "rise_users": "4",
    "fall_percent": "12.5",
    "fall_users": "",
    "hold_zero": "no",
    "first_run_total": "200",
    "drift_policy": "adopt",
}


def test_the_schedule_page_shows_the_rules_in_force_with_their_defaults(admin, world):
    page = _text(admin.get("/schedule/"))
    assert "Hold rules" in page and 'id="rules-form"' in page
    assert "In force: <strong>50 %</strong>" in page and "default 50 %" in page
    assert "In force: <strong>1000 users</strong>" in page
    for policy in ("overwrite", "hold", "adopt"):
        assert f'id="drift-{policy}"' in page
    assert (
        'id="drift-overwrite" name="drift_policy" value="overwrite"\n               checked' in page
    )
    assert "Keep ConnectWise’s value and stop writing that addition" in page
    assert "None: every company follows the rules above." in page


def test_saving_the_partner_rules_stores_them_and_blank_means_the_default(
    admin, world, session_factory
):
    response = admin.post("/rules/", data=PARTNER_FORM)
    assert response.status_code == 302 and response.headers["Location"].endswith("#rules")
    rules = _rules(session_factory, world.partner_id).partner
    assert (rules.rise_percent, rules.rise_users, rules.fall_percent) == (30, 4, 12.5)
    assert (rules.fall_users, rules.hold_zero, rules.first_run_total) == (5, False, 200)
    assert rules.drift_policy == "adopt"
    page = _text(admin.get("/schedule/"))
    assert "Hold rules saved." in page and 'value="12.5"' in page
    assert _rules(session_factory, world.theirs_partner_id).partner.rise_percent == 50
    admin.post("/rules/", data={**PARTNER_FORM, "rise_percent": ""})
    assert _rules(session_factory, world.partner_id).partner.rise_percent == 50


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("rise_percent", "lots", "Rise, per cent must be a number like 50 or 12.5"),
        ("rise_percent", "-5", "Rise, per cent must be a number"),
        ("rise_percent", "1e9", "Rise, per cent must be a number"),
        ("fall_users", "2.5", "Fall, users must be a whole number"),
        ("first_run_total", "99999999", "first_run_total must be between 0 and"),
        ("hold_zero", "maybe", "Hold a change to zero: choose yes, no or the default"),
        ("drift_policy", "ignore", "Hand edits: choose overwrite, hold or adopt"),
    ],
)
def test_bad_rule_values_are_refused_with_nothing_saved(
    admin, world, session_factory, field, value, said
):
    admin.post("/rules/", data=PARTNER_FORM)
    before = _rules(session_factory, world.partner_id)
    response = admin.post("/rules/", data={**PARTNER_FORM, "rise_users": "9", field: value})
    assert response.status_code == 303 and response.headers["Location"].endswith("/schedule/")
    page = _text(admin.get("/schedule/"))
    assert "Hold rules not saved: " + said in page
    assert 'value="9"' in page  # the typed values come back once
    assert _rules(session_factory, world.partner_id) == before
    assert 'id="rule-rise_users" name="rise_users"' in page
    assert 'value="9"' not in _text(admin.get("/schedule/"))


def test_a_company_override_is_saved_from_its_page_and_listed_on_the_schedule_page(
    admin, world, session_factory
):
    page = _text(admin.get(f"/companies/{world.company_id}"))
    assert "Hold rules for Acme Dental" in page and "follows the" in page
    form = {"rise_percent": "", "rise_users": "", "fall_percent": "5", "fall_users": "1"}
    response = admin.post(f"/rules/company/{world.company_id}", data={**form, "hold_zero": ""})
    assert response.status_code == 302
    rules = _rules(session_factory, world.partner_id)
    company = rules.for_company(world.company_id)
    assert (company.fall_percent, company.fall_users, company.rise_percent) == (5, 1, 50)
    page = _text(admin.get(f"/companies/{world.company_id}"))
    assert "Hold rules for Acme Dental saved." in page and "has its own thresholds" in page
    listing = _text(admin.get("/schedule/"))
    assert "Acme Dental" in listing and "5 % and 1 users" in listing
    response = admin.post(f"/rules/company/{world.company_id}/remove", data={"back": "company"})
    assert response.headers["Location"].endswith(f"/companies/{world.company_id}#rules")
    assert "None: every company follows" in _text(admin.get("/schedule/"))
    assert _rules(session_factory, world.partner_id).for_company(world.company_id).fall_users == 5


def test_a_bad_company_override_is_refused_on_its_page(admin, world, session_factory):
    response = admin.post(f"/rules/company/{world.company_id}", data={"rise_users": "ten"})
    assert response.headers["Location"].endswith(f"/companies/{world.company_id}")
    page = _text(admin.get(f"/companies/{world.company_id}"))
    assert "Hold rules not saved: Rise, users must be a whole number" in page
    assert 'value="ten"' in page
    with session_factory() as session:
        assert session.scalar(select(GuardRule)) is None


def test_another_partners_company_and_viewers_cannot_set_rules(
    admin, viewer, world, session_factory
):
    theirs = f"/rules/company/{world.theirs_company_id}"
    assert admin.post(theirs, data={"rise_users": "1"}).status_code == 404
    assert admin.post(theirs + "/remove").status_code == 404
    assert viewer.post("/rules/", data=PARTNER_FORM).status_code == 403
    assert viewer.post(f"/rules/company/{world.company_id}", data={}).status_code == 403
    with session_factory() as session:
        assert session.scalar(select(GuardRule)) is None

"""Health on the pages: row badges, the company page, the dashboard summary, Check now."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import select

from billing_sync.models import MappingHealth, Run
from tests.web.conftest import NOW

RED = [
    {
        "level": "red",
        "code": "agreement_inactive",
        "message": "agreement 70 (Managed) is cancelled",
    },
    {
        "level": "amber",
        "code": "billing_cycle",
        "message": "billing cycle is Quarterly, not Monthly",
    },
]


@pytest.fixture
def checked(session_factory, world):
    """Acme's company is red; the other partner's is amber with a reason Acme must never see."""
    with session_factory.begin() as session:
        session.add_all(
            [
                MappingHealth(
                    partner_id=world.partner_id,
                    company_id=world.company_id,
                    agreement_id=70,
                    level="red",
                    reasons=json.dumps(RED),
                    agreement_status="Cancelled",
                    agreement_type="Managed Services",
                    billing_cycle="Quarterly",
                    bill_start_date=date(2024, 1, 1),
                    next_invoice_date=date(2026, 4, 1),
                    prorate_flag=False,
                    run_id=world.run_id,
                    checked_at=NOW,
                ),
                MappingHealth(
                    partner_id=world.theirs_partner_id,
                    company_id=world.theirs_company_id,
                    level="amber",
                    reasons=json.dumps([{"level": "amber", "code": "x", "message": "globex-only"}]),
                    checked_at=NOW,
                ),
            ]
        )
    return world


def test_mapped_rows_show_the_level_in_words_and_the_first_reason(admin, checked):
    page = admin.get("/companies/?tab=mapped").get_data(as_text=True)

    assert "health-red" in page and ">Red<" in page
    assert "agreement 70 (Managed) is cancelled" in page
    assert "Quarterly" not in page  # only the first reason on the row
    assert "globex-only" not in page


def test_the_problems_tab_shows_the_badge_too(admin, checked):
    page = admin.get("/companies/?tab=problems").get_data(as_text=True)

    assert ">Red<" in page and "is cancelled" in page


def test_the_list_filters_by_level(admin, checked):
    red = admin.get("/companies/?tab=mapped&health=red").get_data(as_text=True)
    green = admin.get("/companies/?tab=mapped&health=green").get_data(as_text=True)
    bogus = admin.get("/companies/?tab=mapped&health=purple")

    assert "Acme Dental" in red and "Showing red companies only" in red
    assert "Acme Dental" not in green.split("<tbody>")[1]
    assert bogus.status_code == 200 and "Acme Dental" in bogus.get_data(as_text=True)


def test_the_company_page_shows_every_reason_and_the_facts(admin, checked):
    page = admin.get(f"/companies/{checked.company_id}").get_data(as_text=True)

    assert "is cancelled" in page and "billing cycle is Quarterly, not Monthly" in page
    assert "Next invoice" in page and "2026-04-01" in page and "Prorates" in page
    assert f"run {checked.run_id}" in page and "Check now" in page


def test_another_partners_company_page_is_404(admin, checked):
    assert admin.get(f"/companies/{checked.theirs_company_id}").status_code == 404


def test_the_dashboard_summarises_and_links_to_the_filtered_list(admin, checked):
    page = admin.get("/").get_data(as_text=True)

    assert "0 green" in page and "0 amber" in page and "1 red" in page
    assert "/companies/?tab=mapped&amp;health=red" in page
    assert "checked 2026-03-10 10:30 CET" in page
    assert "Check now" in page


def test_viewers_see_health_without_a_button(viewer, checked):
    listing = viewer.get("/companies/?tab=mapped").get_data(as_text=True)
    dashboard = viewer.get("/").get_data(as_text=True)

    assert ">Red<" in listing and "1 red" in dashboard
    assert "Check now" not in listing and "Check now" not in dashboard
    assert viewer.post("/health/check").status_code == 403


def test_check_now_starts_a_preview_and_shows_it(admin, app, session_factory, checked):
    response = admin.post("/health/check")

    assert response.status_code == 302 and "/sync/preview/" in response.location
    app.extensions["billing_sync"].runs.join(timeout=30)
    with session_factory() as session:
        run = session.scalars(select(Run).order_by(Run.id.desc())).first()
    assert run.dry_run and run.partner_id == checked.partner_id


def test_check_now_needs_a_csrf_token(admin, app, checked):
    app.config["WTF_CSRF_ENABLED"] = True

    assert admin.post("/health/check").status_code == 400


def test_not_checked_yet_is_said(admin, world):
    assert "not checked yet" in admin.get("/companies/?tab=mapped").get_data(as_text=True)
    assert "No mapped company checked yet" in admin.get("/").get_data(as_text=True)

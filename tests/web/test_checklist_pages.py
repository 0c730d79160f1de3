"""The invoice checklist pages: the dashboard panel, the full list, the setting, /metrics."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from billing_sync.models import (
    AdditionLink,
    Company,
    CompanyMapping,
    Hold,
    MappingHealth,
    Partner,
    Product,
    ProductMapping,
    RunItem,
    Seat,
)
from tests.web.conftest import NOW, login

INSIDE = datetime(2026, 3, 29, 10, 0, tzinfo=UTC)  # 29 March in Amsterdam: 3 days to go
RED = [{"level": "red", "code": "agreement_cancelled", "message": "Agreement 70 is cancelled"}]


def _health(
    partner_id: int, company_id: int, invoice: date, level: str, reasons=(), agreement_id=70
) -> MappingHealth:
    return MappingHealth(
        partner_id=partner_id,
        company_id=company_id,
        agreement_id=agreement_id,
        level=level,
        reasons=json.dumps(list(reasons)),
        next_invoice_date=invoice,
        checked_at=NOW,
    )


@pytest.fixture
def invoicing(session_factory, world):
    """Acme Dental invoices on 1 April: written 3, 4 users now, a hold, a red health check."""
    with session_factory.begin() as session:
        product = session.scalar(select(Product).where(Product.code == "pb-business"))
        pid, cid = world.partner_id, world.company_id
        session.add(ProductMapping(partner_id=pid, product_id=product.id, cw_product_id=11,
                                   updated_at=NOW))  # fmt: skip
        for n in range(4):
            session.add(Seat(partner_id=pid, company_id=cid, product_id=product.id,
                             user_external_id=f"u{n}", active_from=datetime(2026, 1, 1, tzinfo=UTC),
                             updated_at=NOW))  # fmt: skip
        session.add(AdditionLink(partner_id=pid, company_id=cid, product_id=product.id,
                                 agreement_id=70, addition_id=501, last_quantity=3.0,
                                 updated_at=NOW))  # fmt: skip
        session.add(_health(pid, cid, date(2026, 4, 1), "red", RED))
        session.add(Hold(partner_id=pid, run_id=world.run_id, company_id=cid,
                         product_id=product.id, agreement_id=70, quantity_before=3,
                         quantity_after=40, rule="rise", reason="rise",
                         created_at=NOW))  # fmt: skip
        other = world.theirs_partner_id
        session.add(_health(other, world.theirs_company_id, date(2026, 3, 31), "green"))
    return world


def at(app, instant: datetime) -> None:
    app.extensions["billing_sync"].clock = lambda: instant


def signed_in_at(app, email: str, instant: datetime):
    """A client signed in at `instant` (a session signed in weeks earlier has expired)."""
    at(app, instant)
    client = app.test_client()
    assert login(client, email).status_code == 302
    return client


def test_dashboard_shows_what_invoices_with_what_and_what_is_wrong(app, invoicing):
    admin = signed_in_at(app, "admin@acme.test", INSIDE)

    page = admin.get("/").get_data(as_text=True)

    assert (
        "1 agreement invoices in the next 3 days; 1 of them has changes not yet written, "
        "1 has holds, 1 is red." in page
    )
    assert "Next invoice (Europe/Amsterdam)" in page and "2026-04-01" in page
    assert f'href="/companies/{invoicing.company_id}">Acme Dental</a>' in page
    assert "pb-business: 3 → 4" in page and "not written yet" in page
    assert "1 held" in page and "Agreement 70 is cancelled" in page
    assert "the month ends 2026-04-01 00:00 CEST" in page
    assert "Globex Secret Customer" not in page


def test_outside_the_window_the_dashboard_says_when_it_opens(app, admin, invoicing):
    page = admin.get("/").get_data(as_text=True)  # 10 March

    assert "the next check opens on 2026-03-29 (Europe/Amsterdam)" in page
    assert "checklist-summary" not in page


def test_viewers_read_the_checklist_and_reach_the_usage_page(app, invoicing):
    viewer = signed_in_at(app, "viewer@acme.test", INSIDE)

    page = viewer.get("/").get_data(as_text=True)
    full = viewer.get("/checklist/")

    assert f'href="/usage/companies/{invoicing.company_id}">Acme Dental</a>' in page
    assert full.status_code == 200
    assert "1 agreement invoices in the next 3 days" in full.get_data(as_text=True)


def test_a_long_checklist_is_capped_on_the_dashboard_and_paged_on_its_own_page(
    app, session_factory, invoicing
):
    with session_factory.begin() as session:
        for n in range(54):
            company = Company(partner_id=invoicing.partner_id, external_id=f"x{n:02d}",
                              name=f"Zeta {n:02d}")  # fmt: skip
            session.add(company)
            session.flush()
            session.add(CompanyMapping(partner_id=invoicing.partner_id, company_id=company.id,
                                       status="mapped", agreement_id=1000 + n,
                                       updated_at=NOW))  # fmt: skip
            session.add(
                _health(invoicing.partner_id, company.id, date(2026, 4, 1), "green",
                        agreement_id=1000 + n)
            )  # fmt: skip
    admin = signed_in_at(app, "admin@acme.test", INSIDE)

    dashboard = admin.get("/").get_data(as_text=True)
    first = admin.get("/checklist/").get_data(as_text=True)
    second = admin.get("/checklist/?page=2").get_data(as_text=True)

    assert "55 agreements invoice in the next 3 days" in dashboard
    assert "… and 35 more" in dashboard and dashboard.count("data-company=") == 20
    assert first.count("data-company=") == 50 and "Page 1 of 2 (55)" in first
    assert second.count("data-company=") == 5 and "Zeta 53" in second
    assert admin.get("/checklist/?page=x").status_code == 400
    assert "Page 9 is past the end" in admin.get("/checklist/?page=9").get_data(as_text=True)


def test_checklist_days_are_set_on_the_schedule_page(app, admin, viewer, session_factory, world):
    def stored() -> int | None:
        with session_factory() as session:
            return session.get(Partner, world.partner_id).checklist_days

    assert 'name="checklist_days"' in admin.get("/schedule/").get_data(as_text=True)
    saved = admin.post("/schedule/checklist", data={"checklist_days": "5"})
    assert saved.status_code == 302 and saved.headers["Location"].endswith("/schedule/#checklist")
    assert stored() == 5
    assert "shows from 5 day(s) before month end" in admin.get("/schedule/").get_data(as_text=True)

    refused = admin.post("/schedule/checklist", data={"checklist_days": "40"})
    page = admin.get("/schedule/").get_data(as_text=True)
    assert refused.status_code == 303 and stored() == 5
    assert "Checklist not saved: checklist days must be a whole number from 0 to 31" in page
    assert re.search(r'id="checklist_days"[^>]*value="40"', page)
    assert 'id="at_time"' in page and 'value="02:00"' in page  # the schedule form: untouched

    assert admin.post("/schedule/checklist", data={"checklist_days": "0"}).status_code == 302
    assert stored() == 0
    assert "checklist-summary" not in admin.get("/").get_data(as_text=True)
    assert viewer.post("/schedule/checklist", data={"checklist_days": "3"}).status_code == 403
    assert stored() == 0


def test_metrics_gauge_sums_partners_inside_their_windows(app, invoicing):
    client = app.test_client()

    outside = client.get("/metrics").get_data(as_text=True)
    at(app, INSIDE)
    inside = client.get("/metrics").get_data(as_text=True)

    assert 'billing_sync_invoice_checklist_agreements{state="invoicing"} 0.0' in outside
    for state, value in (("invoicing", 2), ("unwritten", 1), ("held", 1), ("red", 1)):
        assert f'billing_sync_invoice_checklist_agreements{{state="{state}"}} {value}.0' in inside


def test_run_page_says_when_a_change_bills_from_the_next_invoice(admin, session_factory, world):
    with session_factory.begin() as session:
        session.add(RunItem(run_id=world.run_id, partner_id=world.partner_id,
                            company_id=world.company_id, agreement_id=70, action="update",
                            state="done", quantity_before=3, quantity_after=4,
                            next_invoice_date=date(2026, 4, 1), prorate_flag=False,
                            bills_next_invoice=True, created_at=NOW))  # fmt: skip

    page = admin.get(f"/runs/{world.run_id}").get_data(as_text=True)

    assert "will bill from the next invoice (2026-04-01)" in page

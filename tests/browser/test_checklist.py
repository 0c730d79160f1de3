"""The invoice checklist in a browser: an admin sets its days, then reads it on the dashboard."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from billing_sync.models import (
    AdditionLink,
    Company,
    CompanyMapping,
    MappingHealth,
    Product,
    ProductMapping,
)
from tests.browser.test_admin_flow import _expect, nav, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def invoicing_tomorrow(session_factory, seeded):
    """Both companies mapped; Acme Dental invoices tomorrow (Amsterdam), written 1, counted 2."""
    now = datetime.now(UTC)
    tomorrow = now.astimezone(ZoneInfo("Europe/Amsterdam")).date() + timedelta(days=1)
    rows = (
        ("Acme Dental", tomorrow, "red"),
        ("Bakery Bros", tomorrow + timedelta(days=60), "green"),
    )
    red = [{"level": "red", "code": "cancelled", "message": "Agreement is cancelled"}]
    with session_factory.begin() as session:
        product_id = session.scalar(select(Product.id))
        session.add(
            ProductMapping(
                partner_id=seeded, product_id=product_id, cw_product_id=11, updated_at=now
            )
        )
        companies = dict(session.execute(select(Company.name, Company.id)).all())
        for n, (name, invoice, level) in enumerate(rows):
            mapped = {"partner_id": seeded, "company_id": companies[name]}
            agreement = {"agreement_id": 70 + n}
            session.add(
                CompanyMapping(
                    **mapped, **agreement, status="mapped", cw_company_id=10 + n,
                    agreement_name=f"{name} MSA", updated_at=now,
                )
            )  # fmt: skip
            session.add(
                MappingHealth(
                    **mapped, **agreement, level=level, next_invoice_date=invoice,
                    reasons=json.dumps(red if level == "red" else []), checked_at=now,
                )
            )  # fmt: skip
            session.add(
                AdditionLink(
                    **mapped, **agreement, product_id=product_id, addition_id=500 + n,
                    last_quantity=1.0, updated_at=now,
                )
            )  # fmt: skip
    return tomorrow


@pytest.mark.parametrize("width", [1280, 390])
def test_an_admin_opens_the_checklist_window_and_sees_what_will_invoice(
    page, live_app, invoicing_tomorrow, shot, width
):
    expect = _expect()
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_app, "admin@acme.test")
    nav(page, "Schedule")
    page.get_by_label("Days before month end").fill("31")  # open whatever today's date is
    page.get_by_role("button", name="Save checklist").click()
    expect(page.locator(".flash").first).to_contain_text("from 31 day(s) before month end")

    page.goto(live_app + "/")
    panel = page.locator("#invoice-checklist")
    expect(panel.locator("#checklist-summary")).to_have_text(
        "1 agreement invoices in the next 31 days; 1 of them has changes not yet written, "
        "0 have holds, 1 is red."
    )
    row = panel.locator("tr[data-company='v-1']")
    expect(row).to_contain_text(invoicing_tomorrow.isoformat())
    expect(row).to_contain_text("pb-business: 1 → 2")
    expect(row).to_contain_text("Agreement is cancelled")
    expect(panel.locator("tr[data-company='v-2']")).to_have_count(0)  # invoices in 60 days
    shot(f"checklist-dashboard-{width}")
    panel.get_by_role("link", name="Open the checklist on its own page").click()
    expect(page.locator("h1")).to_have_text("Invoice checklist")
    page.locator("tr[data-company='v-1']").get_by_role("link", name="Acme Dental").click()
    expect(page).to_have_url(re.compile(r"/companies/\d+$"))

"""The Holds page in a browser: an admin approves one held change and rejects another."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from billing_sync.models import Company, Hold, Product, Run
from tests.browser.test_admin_flow import _expect, nav, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def two_holds(session_factory, seeded) -> None:
    """A held run with a big fall at Acme Dental and a big rise at Bakery Bros."""
    now = datetime.now(UTC)
    with session_factory.begin() as session:
        run = Run(
            partner_id=seeded,
            trigger="schedule",
            status="held",
            basis="month_end",
            started_at=now,
            finished_at=now,
            held=2,
        )
        session.add(run)
        session.flush()
        product_id = session.scalar(select(Product.id))
        companies = dict(session.execute(select(Company.name, Company.id)).all())
        for name, before, after, rule in (
            ("Acme Dental", 40, 2, "fall"),
            ("Bakery Bros", 3, 90, "rise"),
        ):
            session.add(
                Hold(
                    partner_id=seeded,
                    run_id=run.id,
                    company_id=companies[name],
                    product_id=product_id,
                    agreement_id=70 + len(name),
                    addition_id=500 + len(name),
                    quantity_before=before,
                    quantity_after=after,
                    rule=rule,
                    reason=f"{before} -> {after} is more than the {rule} limits",
                    created_at=now,
                )
            )


@pytest.mark.parametrize("width", [1280, 390])
def test_an_admin_approves_one_hold_and_rejects_another(page, live_app, two_holds, shot, width):
    expect = _expect()
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_app, "admin@acme.test")
    expect(page.locator("#held-alert")).to_contain_text("2 changes held for approval")
    nav(page, "Holds")
    expect(page.get_by_role("heading", name="Waiting for approval (2)")).to_be_visible()
    shot(f"holds-{width}")
    assert page.evaluate("document.documentElement.scrollWidth") <= width

    page.get_by_role("button", name="Approve Acme Dental pb-business").click()
    expect(page.get_by_role("status").first).to_contain_text("Approved 1 held change.")
    expect(page.get_by_role("heading", name="Waiting for approval (1)")).to_be_visible()
    expect(page.locator("table.holds")).not_to_contain_text("Acme Dental")

    page.get_by_role("button", name="Reject Bakery Bros pb-business").click()
    expect(page.get_by_role("status").first).to_contain_text("Rejected 1 held change")
    expect(page.get_by_text("No change is waiting for approval.")).to_be_visible()
    decisions = page.get_by_role("region", name="Recent decisions")
    expect(decisions).to_contain_text("approved")
    expect(decisions).to_contain_text("rejected")
    expect(decisions).to_contain_text("admin@acme.test")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    shot(f"holds-decided-{width}")
    page.goto(f"{live_app}/schedule/")  # the hold rules: readable at this width too
    expect(page.get_by_role("heading", name="Hold rules")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    shot(f"hold-rules-{width}")

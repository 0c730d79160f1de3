"""A viewer downloads statements in a browser: a company's CSV and PDF, the partner and run zips."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from billing_sync.models import Company, Product, Run, RunItem
from billing_sync.periods import period_containing
from tests.browser.test_admin_flow import _expect, nav, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def month_run(session_factory, seeded):
    """A month-close run of last month that created Acme Dental's addition."""
    now = datetime.now(UTC)
    last = period_containing(now, "Europe/Amsterdam").previous()
    with session_factory.begin() as session:
        company = session.scalar(select(Company).where(Company.external_id == "v-1"))
        product = session.scalar(select(Product.id).where(Product.code == "pb-business"))
        run = Run(
            partner_id=seeded,
            trigger="month_close",
            status="succeeded",
            basis="month_end",
            period=last.first_day,
            started_at=now,
            finished_at=now,
        )
        session.add(run)
        session.flush()
        session.add(
            RunItem(run_id=run.id, partner_id=seeded, company_id=company.id, product_id=product,
                    agreement_id=70, addition_id=4242, action="create", state="done",
                    quantity_after=2.0, created_at=now)
        )  # fmt: skip
    return run.id, last


def _download(page, button):
    with page.expect_download() as info:
        button.click()
    download = info.value
    return download.suggested_filename, open(download.path(), "rb").read()


def test_a_viewer_downloads_company_partner_and_run_statements(page, live_app, month_run, shot):
    expect = _expect()
    run_id, last = month_run
    month = str(last)
    sign_in(page, live_app, "viewer@acme.test")
    nav(page, "Usage")
    page.get_by_role("link", name="Acme Dental").click()
    expect(page.get_by_label("Month", exact=True)).to_have_value(month)
    shot("statements-01-company")
    name, data = _download(page, page.get_by_role("button", name="Download CSV"))
    assert name == f"v-1-{month}.csv"
    text = data.decode("utf-8-sig")
    assert "u1@acme.test" in text and "u2@acme.test" in text and "4242" in text
    assert "u3@acme.test" not in text  # left in 2025: neither counted nor leaving this month

    earlier = str(last.previous().previous())
    page.get_by_label("Month", exact=True).select_option(earlier)
    name, data = _download(page, page.get_by_role("button", name="Download PDF"))
    assert name == f"v-1-{earlier}.pdf"
    pdf = "".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
    assert "Acme Dental" in pdf and "Counted at month end (2)" in pdf and "u2@acme.test" in pdf
    assert "Written to ConnectWise (0)" in pdf  # the run wrote last month, not this one

    nav(page, "Usage")
    name, data = _download(page, page.get_by_role("button", name="Download CSV zip"))
    assert name == f"statements-acme-{month}-csv.zip"
    assert zipfile.ZipFile(io.BytesIO(data)).namelist() == [f"v-1-{month}.csv", f"v-2-{month}.csv"]

    page.goto(f"{live_app}/runs/{run_id}")
    expect(page.locator("#run-statements")).to_contain_text(f"Statements for {month}")
    shot("statements-02-run")
    name, data = _download(page, page.get_by_role("link", name="PDF zip"))
    assert name == f"statements-run-{run_id}-{month}-pdf.zip"
    assert zipfile.ZipFile(io.BytesIO(data)).namelist() == [f"v-1-{month}.pdf"]

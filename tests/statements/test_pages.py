"""Statement downloads from the usage and run pages: headers, viewers, isolation, bad months."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from billing_sync.models import Product, Run, RunItem, Seat
from tests.web.conftest import NOW, admin, app, viewer, world  # noqa: F401

JAN = datetime(2026, 1, 5, tzinfo=UTC)


@pytest.fixture
def seated(session_factory, world):  # noqa: F811
    """Our company with two users (one Cyrillic) and a real run for 2026-02; a dry run too."""
    with session_factory.begin() as session:
        pb = session.scalar(select(Product.id).where(Product.code == "pb-business"))
        for user, email in (("u1", "=cmd|' /C calc'!A0"), ("u2", "пётр@пример.рф")):
            session.add(
                Seat(partner_id=world.partner_id, company_id=world.company_id, product_id=pb,
                     user_external_id=user, user_email=email, active_from=JAN, updated_at=JAN)
            )  # fmt: skip
        runs = []
        for dry in (False, True):
            run = Run(partner_id=world.partner_id, trigger="month_close", dry_run=dry,
                      status="succeeded", basis="month_end", period=date(2026, 2, 1),
                      started_at=NOW, finished_at=NOW)  # fmt: skip
            session.add(run)
            session.flush()
            session.add(
                RunItem(run_id=run.id, partner_id=world.partner_id, company_id=world.company_id,
                        product_id=pb, agreement_id=70, addition_id=9001, action="create",
                        state="done", quantity_before=None, quantity_after=2.0, created_at=NOW)
            )  # fmt: skip
            runs.append(run.id)
    return runs


def test_the_company_csv_downloads_with_its_name_type_and_neutralised_cells(viewer, world, seated):  # noqa: F811
    response = viewer.get(f"/usage/companies/{world.company_id}/statement?month=2026-02&format=csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == "attachment; filename=acme-1-2026-02.csv"
    assert response.headers["Cache-Control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    emails = {r["email"] for r in rows if r["section"] == "counted"}
    assert emails == {"'=cmd|' /C calc'!A0", "пётр@пример.рф"}
    [written] = [r for r in rows if r["section"] == "written"]
    assert (written["addition_id"], written["quantity_after"]) == ("9001", "2")


def test_the_company_pdf_and_the_partner_zip_download(admin, world, seated):  # noqa: F811
    pdf = admin.get(f"/usage/companies/{world.company_id}/statement?month=2026-02&format=pdf")
    assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf"
    assert pdf.get_data().startswith(b"%PDF-")
    bundle = admin.get("/usage/statements?month=2026-02&format=pdf")
    assert bundle.status_code == 200 and bundle.headers["Content-Type"] == "application/zip"
    disposition = "attachment; filename=statements-acme-2026-02-pdf.zip"
    assert bundle.headers["Content-Disposition"] == disposition
    assert zipfile.ZipFile(io.BytesIO(bundle.get_data())).namelist() == ["acme-1-2026-02.pdf"]


def test_the_run_zip_holds_the_companies_of_that_run_for_its_month(viewer, world, seated):  # noqa: F811
    real, dry = seated
    page = viewer.get(f"/runs/{real}").get_data(as_text=True)
    assert f"/runs/{real}/statements?format=pdf" in page and "Statements for 2026-02" in page
    response = viewer.get(f"/runs/{real}/statements?format=csv")
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/zip"
    assert f"statements-run-{real}-2026-02-csv.zip" in response.headers["Content-Disposition"]
    assert zipfile.ZipFile(io.BytesIO(response.get_data())).namelist() == ["acme-1-2026-02.csv"]
    assert "/statements?" not in viewer.get(f"/runs/{dry}").get_data(as_text=True)
    assert viewer.get(f"/runs/{dry}/statements?format=csv").status_code == 404
    assert viewer.get(f"/runs/{world.run_id}/statements?format=csv").status_code == 404  # no month


def test_the_usage_pages_offer_the_last_twelve_months(viewer, world):  # noqa: F811
    page = viewer.get(f"/usage/companies/{world.company_id}").get_data(as_text=True)
    assert f'action="/usage/companies/{world.company_id}/statement"' in page
    assert '<option value="2026-02" selected>' in page and "2026-03 (in progress)" in page
    assert 'value="2025-04"' in page and 'value="2025-03"' not in page
    assert 'action="/usage/statements"' in viewer.get("/usage/").get_data(as_text=True)


def test_another_partners_company_and_run_are_not_found(admin, world):  # noqa: F811
    company = f"/usage/companies/{world.theirs_company_id}/statement?month=2026-02&format=csv"
    assert admin.get(company).status_code == 404
    assert admin.get(f"/runs/{world.theirs_run_id}/statements?format=csv").status_code == 404
    bundle = admin.get("/usage/statements?month=2026-02&format=csv")
    names = zipfile.ZipFile(io.BytesIO(bundle.get_data())).namelist()
    assert not any("globex" in name for name in names)


@pytest.mark.parametrize(
    "query",
    [
        "month=2026-13&format=csv",
        "month=26-02&format=csv",
        "month=2026-04&format=csv",  # not begun in Amsterdam on 10 March
        "month=&format=csv",
        "format=pdf",
        "month=2026-02&format=xlsx",
        "month=2026-02",
        "month=%00&format=csv",
    ],
)
def test_a_bad_month_or_format_is_a_400_never_a_500(admin, world, query):  # noqa: F811
    assert admin.get(f"/usage/statements?{query}").status_code == 400
    company = f"/usage/companies/{world.company_id}/statement?{query}"
    assert admin.get(company).status_code == 400


def test_signed_out_downloads_go_to_the_sign_in_page(app, world):  # noqa: F811
    client = app.test_client()
    response = client.get(f"/usage/companies/{world.company_id}/statement?month=2026-02&format=csv")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.get("/usage/statements?month=2026-02&format=csv").status_code == 302

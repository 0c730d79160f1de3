"""Statement files: CSV rows and formula neutralising, PDF text read back, the zip's contents."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader

from billing_sync.periods import Period
from billing_sync.statements.bundle import safe_name, write_zip
from billing_sync.statements.csv_out import COLUMNS, company_csv, neutral
from billing_sync.statements.model import (
    CompanyStatement,
    CountedUser,
    LeftUser,
    Statement,
    Write,
)
from billing_sync.statements.pdf_out import REPLACEMENT, company_pdf

PARIS = ZoneInfo("Europe/Paris")
AT = datetime(2026, 9, 1, 8, tzinfo=PARIS)
LEFT_AT = datetime(2026, 10, 9, tzinfo=PARIS)


def _company(external: str = "ext-1", users: int = 3, **overrides) -> CompanyStatement:
    counted = [CountedUser(f"u{n}", f"u{n}@example.com", "pb-business", AT) for n in range(users)]
    fields = {
        "company_id": 1,
        "external_id": external,
        "name": "Ромашка ООО",
        "cw_company": "Romashka (#17)",
        "agreement": "MSA (#70)",
        "counted": (
            *counted,
            CountedUser("ivan", "иван@пример.рф", "pb-premium", AT),
            CountedUser("yamada", "山田太郎@example.jp", "pb-premium", AT),
            CountedUser("eve", "=HYPERLINK(\"http://evil\")", "pb-premium", AT),
        ),
        "left": (LeftUser("olga", "@olga", "pb-business", AT, LEFT_AT),),
        "writes": (
            Write(41, datetime(2026, 11, 1, 0, 15, tzinfo=PARIS), "month_close", "pb-business",
                  70, 9001, "update", 2.0, float(users), "done"),
            Write(41, datetime(2026, 11, 1, 0, 15, tzinfo=PARIS), "month_close", "pb-premium",
                  70, 9002, "create", None, 3.0, "settled_done"),
        ),
        "billed": (("pb-business", users), ("pb-premium", 3)),
    }  # fmt: skip
    return CompanyStatement(**{**fields, **overrides})


def _statement(*companies: CompanyStatement) -> Statement:
    return Statement(
        partner="acme",
        timezone="Europe/Paris",
        period=Period(2026, 10),
        boundary=datetime(2026, 11, 1, tzinfo=PARIS),
        generated_at=datetime(2026, 11, 5, 13, tzinfo=UTC).astimezone(PARIS),
        closed=True,
        companies=companies,
    )


@pytest.mark.parametrize(
    ("cell", "shown"),
    [
        ("=1+1", "'=1+1"),
        ("+31 6 1234", "'+31 6 1234"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=x", "'\t=x"),
        ("a=b", "a=b"),
        ("", ""),
        (None, ""),
    ],
)
def test_cells_a_spreadsheet_would_run_as_formulas_get_an_apostrophe(cell, shown):
    assert neutral(cell) == shown


def test_the_csv_has_a_header_and_one_row_per_fact_section_by_section():
    statement = _statement(_company())
    text = company_csv(statement, statement.companies[0]).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == COLUMNS
    info = {r["item"]: r["value"] for r in rows if r["section"] == "info"}
    assert info["company"] == "Ромашка ООО" and info["external_id"] == "ext-1"
    assert info["month"] == "2026-10" and info["zone"] == "Europe/Paris"
    assert info["month_end"] == "2026-11-01T00:00:00+01:00"
    counted = [r for r in rows if r["section"] == "counted"]
    assert [r["user_id"] for r in counted][:3] == ["u0", "u1", "u2"]
    assert counted[3]["email"] == "иван@пример.рф"
    assert counted[3]["since"] == "2026-09-01T08:00:00+02:00"
    assert counted[5]["email"] == '\'=HYPERLINK("http://evil")'
    [left] = [r for r in rows if r["section"] == "left"]
    assert (left["user_id"], left["email"], left["left_at"]) == (
        "olga", "'@olga", "2026-10-09T00:00:00+02:00"
    )  # fmt: skip
    written = [r for r in rows if r["section"] == "written"]
    assert [(w["addition_id"], w["quantity_before"], w["quantity_after"]) for w in written] == [
        ("9001", "2", "3"),
        ("9002", "", "3"),
    ]
    totals = {(r["item"], r["product"]): r["value"] for r in rows if r["section"] == "total"}
    assert totals == {
        ("users", "pb-business"): "3",
        ("users", "pb-premium"): "3",
        ("billed", "pb-business"): "3",
        ("billed", "pb-premium"): "3",
    }


def _pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_the_pdf_prints_cyrillic_names_counts_and_addition_ids():
    statement = _statement(_company())
    data = company_pdf(statement, statement.companies[0])
    assert data.startswith(b"%PDF-")
    text = _pdf_text(data)
    expected_texts = (
        "Statement 2026-10",
        "Ромашка ООО",
        "иван@пример.рф",
        "ext-1",
        "9001",
        "9002",
        "MSA (#70)",
        "Europe/Paris",
        "Page 1 of 1",
        "Users at month end",
    )
    for expected in expected_texts:
        assert expected in text, expected
    assert "Counted at month end (6)" in text


def test_characters_the_font_lacks_become_a_replacement_mark_not_a_crash():
    statement = _statement(_company())
    text = _pdf_text(company_pdf(statement, statement.companies[0]))
    assert "山田" not in text
    assert f"{REPLACEMENT * 4}@example.jp" in text


def test_a_long_statement_breaks_pages_and_numbers_them():
    statement = _statement(_company(users=120))
    reader = PdfReader(io.BytesIO(company_pdf(statement, statement.companies[0])))
    pages = len(reader.pages)
    assert pages >= 3
    assert f"Page {pages} of {pages}" in reader.pages[-1].extract_text()
    assert "u119@example.com" in reader.pages[-2].extract_text() + reader.pages[-1].extract_text()


def test_the_zip_holds_one_safely_named_file_per_company_with_anything_to_show():
    empty = _company("ext-empty", users=0, counted=(), left=(), writes=(), billed=())
    hostile = _company("../../etc/passwd", users=1)
    statement = _statement(_company("ext-1"), empty, hostile, _company("ext 1", users=2))
    out = io.BytesIO()
    zipped = write_zip(statement, "csv", out)
    names = zipfile.ZipFile(io.BytesIO(out.getvalue())).namelist()
    assert names == ["ext-1-2026-10.csv", "etc_passwd-2026-10.csv", "ext_1-2026-10.csv"]
    assert [c.external_id for c in zipped] == ["ext-1", "../../etc/passwd", "ext 1"]


def test_names_that_clean_up_to_the_same_file_stay_apart():
    statement = _statement(_company("a/b"), _company("a:b", company_id=2))
    out = io.BytesIO()
    write_zip(statement, "pdf", out)
    names = zipfile.ZipFile(io.BytesIO(out.getvalue())).namelist()
    assert names == ["a_b-2026-10.pdf", "a_b-2-2026-10.pdf"]


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("ext-1", "ext-1"),
        ("..", "company"),
        ("", "company"),
        ("a\x00b", "a_b"),
        ("é" * 3, "company"),
    ],
)
def test_file_names_keep_only_safe_characters(raw, safe):
    assert safe_name(raw) == safe

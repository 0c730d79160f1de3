"""`billing-sync statement` as a real process: the files it writes and its one-line refusals."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest
from pypdf import PdfReader

from billing_sync.sync import run_sync
from tests.sync.conftest import NOW, cli_runner


@pytest.fixture
def statement(session_factory, settings, la_world):
    report = run_sync(
        session_factory, settings, la_world.partner_id, now=NOW, trigger="month_close"
    )
    assert report.status == "succeeded"
    return cli_runner(settings, "statement")


def test_without_a_company_it_zips_every_company_with_seats_or_writes(statement, tmp_path):
    out = tmp_path / "out" / "october.zip"
    out.parent.mkdir()
    result = statement("msp", "--month", "2026-10", "--format", "csv", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{out}: 4 companies, 20 users counted at month end"
    archive = zipfile.ZipFile(out)
    assert archive.namelist() == [f"ext-00{i}-2026-10.csv" for i in range(4)]
    rows = list(
        csv.DictReader(io.StringIO(archive.read("ext-001-2026-10.csv").decode("utf-8-sig")))
    )
    assert {"ivan", "anna"} <= {r["user_id"] for r in rows if r["section"] == "counted"}
    assert [p.name for p in out.parent.iterdir()] == ["october.zip"]  # no temporary file left


def test_with_a_company_it_writes_that_companys_pdf(statement, tmp_path):
    out = tmp_path / "ext-001.pdf"
    result = statement("msp", "--month", "2026-10", "--company", "ext-001", "--format", "pdf",
                       "-o", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{out}: 1 company, 5 users counted at month end"
    text = "".join(page.extract_text() for page in PdfReader(out).pages)
    assert "иван@пример.рф" in text and "Customer 001" in text and "America/Los_Angeles" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("msp", "--month", "2026-13"), "error: not a calendar month: 2026-13"),
        (("msp", "--month", "10-2026"), "error: month '10-2026' is not of the form YYYY-MM"),
        (("msp", "--month", "２０２６-10"), "is not of the form YYYY-MM"),
        (("msp", "--month", "2099-01"), "error: month 2099-01 has not begun yet"),
        (("nobody", "--month", "2026-10"), "error: no partner named"),
        (("msp", "--month", "2026-10", "--company", "nope"), "error: no company with external id"),
    ],
)
def test_bad_input_is_one_line_exit_1_and_no_file(statement, tmp_path, args, message):
    out = tmp_path / "out.zip"
    result = statement(*args, "--format", "csv", "-o", str(out))
    assert result.returncode == 1
    assert message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert not out.exists()


@pytest.mark.parametrize("where", ["missing/dir/out.zip", "."])
def test_an_unwritable_output_is_one_line_exit_1(statement, tmp_path, where):
    folder = tmp_path / "out"
    folder.mkdir()
    result = statement("msp", "--month", "2026-10", "--format", "pdf", "-o", str(folder / where))
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot write ")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert list(folder.iterdir()) == []

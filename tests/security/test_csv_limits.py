"""A hostile usage CSV is refused whole, briefly: the first problems, short echoes, a count."""

from __future__ import annotations

import io

import pytest

from billing_sync.usage import KEPT_ERRORS, UsageImportError, import_usage_csv
from tests.web.conftest import NOW
from web.usage import LISTED_PROBLEMS

HEADER = b"company_id,company_name,user_id,user_email,product,active_from,active_to\n"
GOOD = b"c1,Acme,u1,u1@acme.test,pb-business,2026-01-01T00:00:00Z,\n"


def _upload(client, content: bytes):
    return client.post("/usage/upload", data={"file": (io.BytesIO(content), "seats.csv")})


def test_a_hundred_thousand_bad_rows_get_a_short_page_listing_the_first_hundred(admin, dump):
    long_code = "p" * 60
    rows = b"".join(f"c{n},Acme,u{n},,{long_code},yesterday,\n".encode() for n in range(100_000))
    before = dump()

    response = _upload(admin, HEADER + rows)

    assert response.status_code == 303  # back to the form, so Back never posts the file again
    assert len(response.headers["Set-Cookie"]) < 4000  # what a browser keeps of one cookie
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert len(page.encode()) < 200_000
    assert "200,000 problem(s)" in page  # two per row, all counted
    assert "and 199,980 more" in page
    assert page.count("<tr><td>") == LISTED_PROBLEMS
    assert "p" * 41 not in page  # a field is echoed cut short
    assert dump() == before


def test_the_error_keeps_the_lowest_lines_and_counts_the_rest(session, world):
    rows = b"".join(f"c{n},Acme,u{n},,nope,2026-01-01T00:00:00Z,\n".encode() for n in range(250))

    with pytest.raises(UsageImportError) as caught:
        import_usage_csv(session, world.partner_id, io.BytesIO(HEADER + rows), now=NOW)

    error = caught.value
    assert [e.line for e in error.errors] == list(range(2, 2 + KEPT_ERRORS))
    assert (error.total, error.more) == (250, 150)
    assert str(error).endswith("(and 230 more)")  # the message lists 20


@pytest.mark.parametrize(
    "cell, column, message",
    [
        ("0001-01-01T00:00:00+01:00", "active_from", "outside the years 1900 to 9998"),
        ("9999-12-31T23:59:59-01:00", "active_from", "outside the years 1900 to 9998"),
        ("9999-12-31T23:59:59-01:00", "active_to", "outside the years 1900 to 9998"),
        ("Acme\x00Dental", "company_name", "company_name contains a control character"),
        ("\x1b[2Jc1", "company_id", "company_id contains a control character"),
        ("u\x07", "user_id", "user_id contains a control character"),
        ("a@b.test\x00", "user_email", "user_email contains a control character"),
        ("x" * 256, "company_name", "company_name is longer than 255 characters"),
        ("x" * 101, "company_id", "company_id is longer than 100 characters"),
    ],
)
def test_a_hostile_cell_is_a_line_error_and_nothing_is_written(admin, dump, cell, column, message):
    columns = HEADER.decode().strip().split(",")
    values = dict(zip(columns, GOOD.decode().strip().split(","), strict=False))
    values[column] = cell
    row = ",".join(f'"{values.get(name, "")}"' for name in columns).encode() + b"\n"
    before = dump()

    response = _upload(admin, HEADER + GOOD + row)

    assert response.status_code == 303
    assert message in admin.get(response.headers["Location"]).get_data(as_text=True)
    assert dump() == before


def test_an_unknown_product_code_is_echoed_short(session, world):
    rows = f"c1,Acme,u1,,{'z' * 1000},2026-01-01T00:00:00Z,\n".encode()

    with pytest.raises(UsageImportError) as caught:
        import_usage_csv(session, world.partner_id, io.BytesIO(HEADER + rows), now=NOW)

    (error,) = caught.value.errors
    assert f"unknown product code '{'z' * 40}…'" in error.message
    assert len(error.message) < 150

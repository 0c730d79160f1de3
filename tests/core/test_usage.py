"""Usage CSV import: validated whole, line-numbered errors, upserts, no-op re-imports."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from billing_sync.models import Company, Seat
from billing_sync.usage import (
    ImportSummary,
    UsageImportError,
    UsageRow,
    import_usage_csv,
    write_usage_csv,
)

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
HEADER = "company_id,company_name,user_id,user_email,product,active_from,active_to\n"
FILE = HEADER + (
    "1001,Acme,u1,u1@acme.test,pb-business,2026-09-01T00:00:00Z,\n"
    "1001,Acme,u2,u2@acme.test,pb-business,2026-09-01T00:00:00+02:00,2026-10-15T12:00:00Z\n"
    "1001,Acme,u1,u1@acme.test,pb-personal,2026-09-01T00:00:00Z,\n"
    "1002,Globex,g1,,pb-business,2026-10-01T08:30:00-04:00,\n"
)


def run(session, partner, text, **kwargs):
    return import_usage_csv(session, partner.id, io.StringIO(text), now=NOW, **kwargs)


def counts(session):
    return (
        session.scalar(select(func.count()).select_from(Company)),
        session.scalar(select(func.count()).select_from(Seat)),
    )


def test_import_creates_companies_and_seats(session, partner, products):
    summary = run(session, partner, FILE)
    session.commit()
    assert summary == ImportSummary(
        rows=4,
        companies_created=2,
        companies_renamed=0,
        seats_created=4,
        seats_updated=0,
        seats_unchanged=0,
    )
    names = {c.external_id: c.name for c in session.scalars(select(Company))}
    assert names == {"1001": "Acme", "1002": "Globex"}
    seat = session.scalars(select(Seat).where(Seat.user_external_id == "u2")).one()
    assert seat.active_from == datetime(2026, 8, 31, 22, tzinfo=UTC)  # offsets become UTC
    assert seat.active_to == datetime(2026, 10, 15, 12, tzinfo=UTC)
    assert seat.user_email == "u2@acme.test" and seat.partner_id == partner.id
    globex = session.scalars(select(Seat).where(Seat.user_external_id == "g1")).one()
    assert globex.user_email is None and globex.active_to is None


def test_reimporting_the_same_file_is_a_no_op(session, partner, products):
    run(session, partner, FILE)
    session.commit()
    summary = run(session, partner, FILE)
    assert summary == ImportSummary(4, 0, 0, 0, 0, 4)
    assert not session.dirty and counts(session) == (2, 4)


def test_a_row_with_the_same_seat_key_updates_it_and_a_new_name_renames(session, partner, products):
    run(session, partner, FILE)
    session.commit()
    changed = HEADER + (
        "1001,Acme Corp,u1,new@acme.test,pb-business,2026-09-01T00:00:00Z,2026-11-01T00:00:00Z\n"
        # The same instant written with another offset is the same seat.
        "1002,Globex,g1,,pb-business,2026-10-01T12:30:00Z,\n"
        "1002,Globex,g2,,pb-business,2026-10-05T00:00:00Z,\n"
    )
    summary = run(session, partner, changed)
    session.commit()
    assert summary == ImportSummary(3, 0, 1, 1, 1, 1)
    seat = session.scalars(
        select(Seat).where(Seat.user_external_id == "u1", Seat.active_to.is_not(None))
    ).one()
    assert (seat.user_email, seat.active_to) == ("new@acme.test", datetime(2026, 11, 1, tzinfo=UTC))
    assert seat.updated_at == NOW
    assert session.scalar(select(Company.name).where(Company.external_id == "1001")) == "Acme Corp"
    assert counts(session) == (2, 5)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8"])
def test_bytes_with_or_without_a_bom_import(session, partner, products, encoding):
    data = FILE.replace("Globex", "Glöbex").encode(encoding)
    summary = import_usage_csv(session, partner.id, io.BytesIO(data), now=NOW)
    assert summary.seats_created == 4
    assert "Glöbex" in {c.name for c in session.scalars(select(Company))}


def test_a_text_stream_with_a_bom_imports(session, partner, products):
    assert run(session, partner, "\ufeff" + FILE).seats_created == 4


def test_identical_duplicate_rows_and_blank_lines_are_accepted(session, partner, products):
    row = "1001,Acme,u1,,pb-business,2026-09-01T00:00:00Z,\n"
    summary = run(session, partner, HEADER + row + "\n" + row + "\r\n")
    assert (summary.rows, summary.seats_created) == (2, 1)


def row(user="u1", product="pb-business", start="2026-09-01T00:00:00Z", end="", **fields) -> str:
    """One CSV line; company 1001 "Acme" unless told otherwise."""
    company, name = fields.get("company", "1001"), fields.get("name", "Acme")
    return f"{company},{name},{user},{fields.get('email', '')},{product},{start},{end}\n"


BAD_FILES = [
    # name, file text, expected (line, message fragment) pairs
    (
        "missing column",
        "company_id,company_name,user_id,product,active_from,active_to\n",
        [(1, "missing column(s) user_email")],
    ),
    ("extra column", HEADER.strip() + ",seats\n", [(1, "unknown column(s) seats")]),
    ("empty file", "", [(1, "file is empty")]),
    ("too few fields", HEADER + row().replace(",\n", "\n"), [(2, "expected 7 columns, found 6")]),
    ("too many fields", HEADER + row(end=",x"), [(2, "expected 7 columns, found 8")]),
    (
        "unknown product",
        HEADER + row(product="pb-enterprise"),
        [(2, "unknown product code 'pb-enterprise'")],
    ),
    (
        "bad timestamp",
        HEADER + row(start="yesterday"),
        [(2, "active_from 'yesterday' is not an ISO 8601 timestamp")],
    ),
    ("naive timestamp", HEADER + row(start="2026-09-01T00:00:00"), [(2, "has no UTC offset")]),
    (
        "date only",
        HEADER + row(end="2026-10-01"),
        [(2, "active_to '2026-10-01' has no UTC offset")],
    ),
    (
        "active_to equals active_from",
        HEADER + row(end="2026-09-01T02:00:00+02:00"),
        [(2, "active_to must be later than active_from")],
    ),
    (
        "active_to before active_from",
        HEADER + row(start="2026-09-02T00:00:00Z", end="2026-09-01T00:00:00Z"),
        [(2, "active_to must be later")],
    ),
    (
        "empty ids",
        HEADER + row(company="", user=""),
        [(2, "company_id is empty"), (2, "user_id is empty")],
    ),
    (
        "conflicting duplicate seat",
        HEADER + row() + row(end="2026-10-01T00:00:00Z"),
        [(3, "same seat as line 2")],
    ),
    (
        "conflicting company names",
        HEADER + row() + row(user="u2", name="Acme Inc"),
        [(3, "company 1001 is named 'Acme Inc' here but 'Acme' on line 2")],
    ),
    (
        "line numbers count blank lines and quoted line breaks",
        HEADER + "\n" + row(name='"Acme\nHoldings"') + row(name='"Acme\nHoldings"', product="pb-x"),
        [(5, "unknown product code 'pb-x'")],
    ),
]


@pytest.mark.parametrize(
    ("name", "text", "expected"), BAD_FILES, ids=[case[0] for case in BAD_FILES]
)
def test_bad_files_are_rejected_whole_with_line_numbers(
    session, partner, products, name, text, expected
):
    good = "1009,Fine Co,ok,,pb-business,2026-09-01T00:00:00Z,\n"
    if text.startswith(HEADER):
        text += good  # a valid row too: it must not be written either
    with pytest.raises(UsageImportError) as caught:
        run(session, partner, text)
    errors = caught.value.errors
    for line, fragment in expected:
        assert any(e.line == line and fragment in e.message for e in errors), (
            line,
            fragment,
            errors,
        )
    assert not session.new and not session.dirty
    assert counts(session) == (0, 0)


def test_invalid_utf8_is_rejected_at_its_line(session, partner, products):
    data = (
        HEADER + "1001,Acme,u1,,pb-business,2026-09-01T00:00:00Z,\n"
    ).encode() + b"1002,Gl\xffbex\n"
    with pytest.raises(UsageImportError) as caught:
        import_usage_csv(session, partner.id, io.BytesIO(data), now=NOW)
    assert [(e.line, "UTF-8" in e.message) for e in caught.value.errors] == [(3, True)]


def test_every_bad_row_is_reported_and_the_message_lists_the_first(session, partner, products):
    bad = "".join(f"{n},Co {n},u1,,pb-nope,2026-09-01T00:00:00Z,\n" for n in range(30))
    with pytest.raises(UsageImportError) as caught:
        run(session, partner, HEADER + bad)
    assert [e.line for e in caught.value.errors] == list(range(2, 32))
    message = str(caught.value)
    assert message.startswith("usage file rejected, 30 error(s), nothing imported: line 2: unknown")
    assert "line 21:" in message and "line 22:" not in message and "(and 10 more)" in message


def test_unknown_partner_is_refused(session, products):
    with pytest.raises(ValueError, match="partner 999 does not exist"):
        import_usage_csv(session, 999, io.StringIO(FILE), now=NOW)


def test_write_usage_csv_round_trips(session, partner, products):
    rows = [
        UsageRow(
            "1001",
            "Acme, Inc.",
            "u1",
            "u1@acme.test",
            "pb-business",
            datetime(2026, 9, 1, tzinfo=UTC),
        ),
        UsageRow(
            "1001",
            "Acme, Inc.",
            "u2",
            None,
            "pb-personal",
            datetime(2026, 9, 1, tzinfo=UTC),
            datetime(2026, 10, 1, tzinfo=UTC),
        ),
    ]
    out = io.StringIO()
    write_usage_csv(rows, out)
    assert (
        out.getvalue().splitlines()[2]
        == '1001,"Acme, Inc.",u2,,pb-personal,2026-09-01T00:00:00Z,2026-10-01T00:00:00Z'
    )
    assert run(session, partner, out.getvalue()).seats_created == 2
    assert run(session, partner, out.getvalue()).seats_unchanged == 2


@pytest.mark.slow
def test_a_ten_thousand_row_file_imports_and_reimports(session, partner, products):
    rows = [
        UsageRow(
            str(5000 + n // 50),
            f"Company {n // 50}",
            f"user-{n}",
            f"user-{n}@example.test",
            "pb-business" if n % 2 else "pb-personal",
            datetime(2026, 1, 1 + n % 28, tzinfo=UTC),
            None if n % 3 else datetime(2026, 11, 1, tzinfo=UTC),
        )
        for n in range(10_000)
    ]
    out = io.StringIO()
    write_usage_csv(rows, out)
    first = run(session, partner, out.getvalue())
    session.commit()
    assert (first.rows, first.companies_created, first.seats_created) == (10_000, 200, 10_000)
    again = run(session, partner, out.getvalue())
    assert (again.seats_unchanged, again.seats_created, again.seats_updated) == (10_000, 0, 0)

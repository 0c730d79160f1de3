"""Usage CSV import: companies and seats, validated whole and written all-or-nothing."""

from __future__ import annotations

import csv
import heapq
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO

from sqlalchemy.orm import Session

from billing_sync.errors import InvalidInput
from billing_sync.models import Partner
from billing_sync.seats import (
    SeatRow,
    field_problems,
    interval_problem,
    product_ids,
    seat_conflicts,
    upsert_seats,
)
from billing_sync.validation import clipped, timestamp

UsageRow = SeatRow  # the CSV's row is the API's seat: one contract, one upsert

COLUMNS = (
    "company_id",
    "company_name",
    "user_id",
    "user_email",
    "product",
    "active_from",
    "active_to",
)
SHOWN_ERRORS = 20  # in the one-line message
KEPT_ERRORS = 100  # listed on the page and by the CLI; the rest are only counted
SHOWN_CODES = 10


@dataclass(frozen=True)
class LineError:
    """One problem in the file, at the line a person would count (header = line 1)."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class UsageImportError(ValueError):
    """The file was rejected as a whole; nothing was written.

    `errors` holds the first KEPT_ERRORS problems by line; `total` counts them all.
    """

    def __init__(self, errors: list[LineError], total: int | None = None) -> None:
        self.errors = errors
        self.total = len(errors) if total is None else total
        listed = "; ".join(str(error) for error in errors[:SHOWN_ERRORS])
        more = self.total - min(len(errors), SHOWN_ERRORS)
        super().__init__(
            f"usage file rejected, {self.total} error(s), nothing imported: {listed}"
            + (f" (and {more} more)" if more else "")
        )

    @property
    def more(self) -> int:
        """Problems counted but not kept in `errors`."""
        return self.total - len(self.errors)


class _Errors:
    """The first KEPT_ERRORS problems by line (then by arrival), and a count of all of them.

    A file of a million bad rows must not become a million messages: it is rejected just the same.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, LineError]] = []  # (-line, -arrival): largest pops first
        self.total = 0

    def add(self, error: LineError) -> None:
        self.total += 1
        heapq.heappush(self._heap, (-error.line, -self.total, error))
        if len(self._heap) > KEPT_ERRORS:
            heapq.heappop(self._heap)

    def __bool__(self) -> bool:
        return self.total > 0

    def raise_if_any(self) -> None:
        if self.total:
            kept = [error for _, _, error in sorted(self._heap, reverse=True)]
            raise UsageImportError(kept, self.total)


@dataclass(frozen=True)
class ImportSummary:
    """What an import did; a re-import of the same file reports only unchanged seats."""

    rows: int
    companies_created: int
    companies_renamed: int
    seats_created: int
    seats_updated: int
    seats_unchanged: int


def _text(stream: IO[str] | IO[bytes]) -> str:
    data = stream.read()
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UsageImportError(
            [LineError(line, "not valid UTF-8; save the file as UTF-8")]
        ) from exc


def _parse_row(fields: dict[str, str], products: set[str]) -> tuple[UsageRow | None, list[str]]:
    problems = [problem.message for problem in field_problems(fields, products)]
    active_from = active_to = None
    try:
        active_from = timestamp(fields["active_from"], "active_from")
    except InvalidInput as exc:
        problems.append(str(exc))
    if fields["active_to"]:
        try:
            active_to = timestamp(fields["active_to"], "active_to")
        except InvalidInput as exc:
            problems.append(str(exc))
    if active_from and (message := interval_problem(active_from, active_to)):
        problems.append(message)
    if problems or active_from is None:
        return None, problems
    row = UsageRow(
        company_id=fields["company_id"],
        company_name=fields["company_name"],
        user_id=fields["user_id"],
        user_email=fields["user_email"] or None,
        product=fields["product"],
        active_from=active_from,
        active_to=active_to,
    )
    return row, []


class _Unreadable(Exception):
    def __init__(self, error: LineError) -> None:
        self.error = error


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """Non-blank CSV records with the line each starts on (a quoted field may span lines)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    line = 1
    try:
        for record in reader:
            if any(field.strip() for field in record):
                yield line, record
            line = reader.line_num + 1
    except csv.Error as exc:
        raise _Unreadable(LineError(line, f"unreadable CSV: {exc}")) from exc


def _header_errors(header: list[str]) -> list[LineError]:
    names = [name.strip().lower() for name in header]
    missing = [name for name in COLUMNS if name not in names]
    extra = [name for name in names if name not in COLUMNS]
    problems = []
    if missing:
        problems.append(f"header is missing column(s) {', '.join(missing)}")
    if extra:
        listed = ", ".join(clipped(name) for name in extra[:SHOWN_CODES])
        more = f" and {len(extra) - SHOWN_CODES} more" if len(extra) > SHOWN_CODES else ""
        problems.append(f"header has unknown column(s) {listed}{more}")
    if not problems and len(names) != len(set(names)):
        problems.append("header repeats a column")
    if problems:
        problems.append(f"expected the header {','.join(COLUMNS)}")
    return [LineError(1, problem) for problem in problems]


def parse_usage_csv(text: str, products: set[str]) -> tuple[list[tuple[int, UsageRow]], int]:
    """Validate a whole usage file; return its (line, row) pairs and data-row count, or raise."""
    records = _records(text)
    try:
        _, header = next(records)
    except StopIteration:
        raise UsageImportError(
            [LineError(1, f"file is empty; expected {','.join(COLUMNS)}")]
        ) from None
    except _Unreadable as exc:
        raise UsageImportError([exc.error]) from None
    if errors := _header_errors(header):
        raise UsageImportError(errors)
    names = [name.strip().lower() for name in header]
    rows: list[tuple[int, UsageRow]] = []
    errors = _Errors()
    count = 0
    try:
        for line, record in records:
            count += 1
            if len(record) != len(names):
                errors.add(LineError(line, f"expected {len(names)} columns, found {len(record)}"))
                continue
            fields = {name: value.strip() for name, value in zip(names, record, strict=True)}
            row, problems = _parse_row(fields, products)
            for problem in problems:
                errors.add(LineError(line, problem))
            if row is not None:
                rows.append((line, row))
    except _Unreadable as exc:
        errors.add(exc.error)
    for error in _conflicts(rows):
        errors.add(error)
    errors.raise_if_any()
    return rows, count


def _conflicts(rows: list[tuple[int, UsageRow]]) -> list[LineError]:
    """Rows naming the same seat or company twice must agree."""
    problems = seat_conflicts(rows, lambda line: f"line {line}")
    return [LineError(problem.index, problem.message) for problem in problems]


def import_usage_csv(
    session: Session, partner_id: int, stream: IO[str] | IO[bytes], *, now: datetime
) -> ImportSummary:
    """Validate the whole file, then upsert its companies and seats; the caller commits."""
    if session.get(Partner, partner_id) is None:
        raise ValueError(f"partner {partner_id} does not exist")
    rows, count = parse_usage_csv(_text(stream), set(product_ids(session)))
    lines = [line for line, _ in rows]
    seats = upsert_seats(
        session, partner_id, [row for _, row in rows], now=now, where=lambda i: f"line {lines[i]}"
    )
    return ImportSummary(
        rows=count,
        companies_created=seats.companies_created,
        companies_renamed=seats.companies_renamed,
        seats_created=seats.created,
        seats_updated=seats.updated,
        seats_unchanged=seats.unchanged,
    )


def write_usage_csv(rows: Iterable[UsageRow], stream: IO[str]) -> None:
    """Write rows in the import format (header included), timestamps as UTC with Z."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(
            [
                row.company_id,
                row.company_name,
                row.user_id,
                row.user_email or "",
                row.product,
                _iso(row.active_from),
                _iso(row.active_to) if row.active_to else "",
            ]
        )


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")

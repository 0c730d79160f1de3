"""The /api/v1 boundary: marshmallow schemas that validate requests and document responses."""

from __future__ import annotations

from datetime import UTC, datetime

import marshmallow as ma
from marshmallow import fields, validate

from billing_sync.rosters import Roster, RosterUser
from billing_sync.seats import MAX_LENGTHS, SeatRow

MAX_SEATS = 50_000  # a 10 MB body holds about 40,000; the size limit usually speaks first
MAX_USERS = 50_000
PERIOD = r"^(19[7-9]\d|[2-8]\d{3}|9[0-8]\d{2}|99[0-8]\d|999[0-8])-(0[1-9]|1[0-2])$"
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(9998, 1, 1, tzinfo=UTC)


class Text(fields.String):
    """A string a database can store (no NUL, no lone surrogate), within a length."""

    def __init__(self, low: int = 0, high: int = 255, **kwargs) -> None:
        # One validator, not Length plus another: PUT /seats runs it 35,000 times a request.
        self.low, self.high = low, high
        super().__init__(validate=self._check, **kwargs)
        self.metadata = {**self.metadata, "minLength": low, "maxLength": high}

    def _check(self, value: str) -> None:
        if not self.low <= len(value) <= self.high:
            raise ma.ValidationError(f"Length must be between {self.low} and {self.high}.")
        if "\x00" in value:  # PostgreSQL refuses NUL in text
            raise ma.ValidationError("must be text without NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ma.ValidationError("must be valid Unicode text") from None


class Instant(fields.AwareDateTime):
    """An ISO 8601 timestamp with an offset or Z, as UTC, between 1970 and 9997."""

    def _deserialize(self, value, attr, data, **kwargs) -> datetime:
        parsed = super()._deserialize(value, attr, data, **kwargs)
        try:
            parsed = parsed.astimezone(UTC)
        except OverflowError:
            raise ma.ValidationError("is out of range") from None
        if not EARLIEST <= parsed < LATEST:
            raise ma.ValidationError("must be between 1970 and 9997")
        return parsed


def _text(name: str, **kwargs) -> Text:
    return Text(1, MAX_LENGTHS[name], **kwargs)


class SeatSchema(ma.Schema):
    """One seat, as a row of the usage CSV."""

    company_id = _text("company_id", required=True)
    company_name = _text("company_name", required=True)
    user_id = _text("user_id", required=True)
    user_email = Text(0, 255, load_default=None, allow_none=True)
    product = Text(1, 64, required=True)
    active_from = Instant(required=True)
    active_to = Instant(load_default=None, allow_none=True)

    @ma.post_load
    def _row(self, data, **_kwargs) -> SeatRow:
        data["user_email"] = data["user_email"] or None
        return SeatRow(**data)


class SeatsSchema(ma.Schema):
    """PUT /seats: seats to upsert, all or none."""

    seats = fields.List(
        fields.Nested(SeatSchema), required=True, validate=validate.Length(max=MAX_SEATS)
    )


class SeatsResultSchema(ma.Schema):
    """What PUT /seats did, in seats."""

    created = fields.Integer(required=True)
    updated = fields.Integer(required=True)
    unchanged = fields.Integer(required=True)


class RosterUserSchema(ma.Schema):
    """One user of a snapshot."""

    user_id = _text("user_id", required=True)
    user_email = Text(0, 255, load_default=None, allow_none=True)


class RosterSchema(ma.Schema):
    """PUT .../users: every user holding the product at the company at as_of."""

    as_of = Instant(required=True)
    company_name = _text(
        "company_name",
        load_default=None,
        metadata={"description": "needed when the company is new; renames it otherwise"},
    )
    users = fields.List(
        fields.Nested(RosterUserSchema), required=True, validate=validate.Length(max=MAX_USERS)
    )

    def roster(self, data: dict, company_id: str, product: str) -> Roster:
        """The domain snapshot for this path."""
        users = [RosterUser(u["user_id"], u["user_email"] or None) for u in data["users"]]
        return Roster(company_id, product, data["as_of"], users, data["company_name"])


class RosterResultSchema(ma.Schema):
    """What a snapshot did to the seats of one company's product."""

    company_id = fields.String(required=True)
    product = fields.String(required=True)
    as_of = fields.AwareDateTime(required=True)
    opened = fields.Integer(required=True, metadata={"description": "seats opened at as_of"})
    closed = fields.Integer(required=True, metadata={"description": "seats closed at as_of"})
    updated = fields.Integer(required=True, metadata={"description": "e-mail changed"})
    unchanged = fields.Integer(required=True)
    company_created = fields.Boolean(required=True)


class CountsQuerySchema(ma.Schema):
    """Which counts: a closed period's month end, or live at an instant (default: last closed)."""

    period = fields.String(validate=validate.Regexp(PERIOD, error="must be YYYY-MM (1970-9997)"))
    at = Instant()

    @ma.validates_schema
    def _one(self, data, **_kwargs) -> None:
        if "period" in data and "at" in data:
            raise ma.ValidationError("give period or at, not both", "at")


class CountRowSchema(ma.Schema):
    """Users of one product at one company."""

    company_id = fields.String(required=True)
    company_name = fields.String(required=True)
    product = fields.String(required=True)
    count = fields.Integer(required=True)


class CountsSchema(ma.Schema):
    """Counts per company and product."""

    basis = fields.String(required=True, validate=validate.OneOf(["month_end", "live"]))
    period = fields.String(required=True, allow_none=True)
    at = fields.AwareDateTime(required=True, metadata={"description": "boundary or instant"})
    frozen = fields.Boolean(required=True, metadata={"description": "the month-close snapshot"})
    counts = fields.List(fields.Nested(CountRowSchema), required=True)


class CompaniesQuerySchema(ma.Schema):
    """A page of companies by external id."""

    after = Text(1, 100)
    limit = fields.Integer(load_default=500, validate=validate.Range(1, 1000))


class MappingSchema(ma.Schema):
    """Where a company's counts go in ConnectWise."""

    cw_company_id = fields.Integer(required=True, allow_none=True)
    cw_company_name = fields.String(required=True, allow_none=True)
    agreement_id = fields.Integer(required=True, allow_none=True)
    agreement_name = fields.String(required=True, allow_none=True)
    matched_by = fields.String(required=True, allow_none=True)


class ProblemNoteSchema(ma.Schema):
    """An error of the last sync and what to do about it."""

    error = fields.String(required=True)
    advice = fields.String(required=True, allow_none=True)
    product = fields.String(
        required=True, allow_none=True, metadata={"description": "the vendor product's name"}
    )


class LastSyncSchema(ma.Schema):
    """The latest real run that touched a company."""

    at = fields.AwareDateTime(required=True)
    ok = fields.Boolean(required=True)
    errors = fields.List(fields.Nested(ProblemNoteSchema), required=True)


class CompanySchema(ma.Schema):
    """A vendor company with its mapping and last sync."""

    company_id = fields.String(required=True)
    name = fields.String(required=True)
    status = fields.String(
        required=True, validate=validate.OneOf(["mapped", "unmatched", "excluded"])
    )
    mapping = fields.Nested(MappingSchema, required=True, allow_none=True)
    last_sync = fields.Nested(LastSyncSchema, required=True, allow_none=True)


class CompaniesSchema(ma.Schema):
    """A page of companies."""

    companies = fields.List(fields.Nested(CompanySchema), required=True)
    next = fields.String(required=True, allow_none=True, metadata={"description": "next page"})


class SyncRequestSchema(ma.Schema):
    """POST /syncs: a real run, or a dry run that writes nothing to ConnectWise."""

    dry_run = fields.Boolean(load_default=False)


class IdempotencyHeaderSchema(ma.Schema):
    """A client-chosen key: a repeat of the request returns the run the first one started."""

    class Meta:
        unknown = ma.EXCLUDE

    idempotency_key = fields.String(data_key="Idempotency-Key", validate=validate.Length(1, 255))


class ItemSchema(ma.Schema):
    """One (company, product) of a run, as `sync --json` prints it."""

    company = fields.String(required=True)
    product = fields.String(required=True)
    agreement_id = fields.Integer(required=True, allow_none=True)
    addition_id = fields.Integer(required=True, allow_none=True)
    action = fields.String(required=True)
    quantity_before = fields.Float(required=True, allow_none=True)
    quantity_after = fields.Float(required=True, allow_none=True)
    error = fields.String(required=True, allow_none=True)


class RunSchema(ma.Schema):
    """A run in the `sync --json` shape, with when and why it ran."""

    run_id = fields.Integer(required=True)
    status = fields.String(required=True)
    dry_run = fields.Boolean(required=True)
    trigger = fields.String(required=True)
    started_at = fields.AwareDateTime(required=True)
    finished_at = fields.AwareDateTime(required=True, allow_none=True)
    period = fields.String(required=True, allow_none=True, metadata={"description": "YYYY-MM"})
    items = fields.List(fields.Nested(ItemSchema), required=True)
    warnings = fields.List(fields.String(), required=True)
    left_out = fields.List(fields.String(), required=True)
    message = fields.String(required=True, allow_none=True)


class RunsQuerySchema(ma.Schema):
    """A page of runs, newest first."""

    limit = fields.Integer(load_default=20, validate=validate.Range(1, 100))
    before = fields.Integer(
        validate=validate.Range(1, 2**53), metadata={"description": "a run id: older runs"}
    )


class RunsSchema(ma.Schema):
    """A page of runs."""

    runs = fields.List(fields.Nested(RunSchema), required=True)
    next = fields.String(required=True, allow_none=True, metadata={"description": "next page"})

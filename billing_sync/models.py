"""Typed SQLAlchemy 2.x models; every partner-owned row carries partner_id."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes stored as naive UTC, so SQLite and PostgreSQL agree."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware one is required")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime()}


class Partner(Base):
    """One MSP: its handle, zone, sync settings and integration switch."""

    __tablename__ = "partners"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    count_basis: Mapped[str] = mapped_column(String(16), default="month_end")
    integration_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    sync_concurrency: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]


class User(Base):
    """A person who signs in to one partner's pages, as admin or viewer."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="admin")
    # Every web session carries it; a new one (sign-out) ends all sessions issued before.
    session_token: Mapped[str] = mapped_column(String(64), default="", server_default="")
    created_at: Mapped[datetime]


class Connection(Base):
    """A partner's ConnectWise Manage credentials; the private key only ever encrypted."""

    __tablename__ = "connections"

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), unique=True)
    site: Mapped[str] = mapped_column(String(255))
    company_id: Mapped[str] = mapped_column(String(100))
    public_key: Mapped[str] = mapped_column(String(100))
    private_key_encrypted: Mapped[str] = mapped_column(Text)
    private_key_hint: Mapped[str] = mapped_column(String(8), default="")
    client_id: Mapped[str] = mapped_column(String(64))
    codebase: Mapped[str | None] = mapped_column(String(64))
    last_checked_at: Mapped[datetime | None]
    last_check_ok: Mapped[bool | None] = mapped_column(Boolean)
    last_check_message: Mapped[str | None] = mapped_column(Text)
    cw_version: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime]


class Product(Base):
    """A vendor product sold per user, e.g. pb-business."""

    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))


class ProductMapping(Base):
    """Vendor product -> ConnectWise catalog item, per partner."""

    __tablename__ = "product_mappings"
    __table_args__ = (UniqueConstraint("partner_id", "product_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    cw_product_id: Mapped[int] = mapped_column(Integer)
    cw_identifier: Mapped[str | None] = mapped_column(String(255))
    cw_description: Mapped[str | None] = mapped_column(String(255))
    updated_at: Mapped[datetime]

    product: Mapped[Product] = relationship(lazy="joined")


class Company(Base):
    """A partner's customer in the vendor platform, keyed by the vendor's external id."""

    __tablename__ = "companies"
    __table_args__ = (UniqueConstraint("partner_id", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    external_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(255))


class Seat(Base):
    """One user of one company holding one product over [active_from, active_to)."""

    __tablename__ = "seats"
    __table_args__ = (
        UniqueConstraint("company_id", "user_external_id", "product_id", "active_from"),
        Index("ix_seats_partner_product_window", "partner_id", "product_id", "active_from"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    user_external_id: Mapped[str] = mapped_column(String(100))
    user_email: Mapped[str | None] = mapped_column(String(255))
    active_from: Mapped[datetime]
    active_to: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class CompanyMapping(Base):
    """Vendor company -> ConnectWise company and agreement, or excluded."""

    __tablename__ = "company_mappings"

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), unique=True)
    status: Mapped[str] = mapped_column(String(16))  # mapped | excluded
    cw_company_id: Mapped[int | None] = mapped_column(Integer)
    cw_company_name: Mapped[str | None] = mapped_column(String(255))
    agreement_id: Mapped[int | None] = mapped_column(Integer)
    agreement_name: Mapped[str | None] = mapped_column(String(255))
    matched_by: Mapped[str | None] = mapped_column(String(16))  # auto | manual
    updated_at: Mapped[datetime]

    company: Mapped[Company] = relationship(lazy="joined")


class AdditionLink(Base):
    """The ConnectWise addition we manage for (company mapping, product), and what we last set."""

    __tablename__ = "addition_links"
    __table_args__ = (UniqueConstraint("company_id", "product_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    agreement_id: Mapped[int] = mapped_column(Integer)
    addition_id: Mapped[int] = mapped_column(Integer)
    last_quantity: Mapped[float | None] = mapped_column(Float)
    period: Mapped[date | None] = mapped_column(Date)  # newest month-end period pushed
    updated_at: Mapped[datetime]


class PeriodClose(Base):
    """A billing period whose month-end counts are frozen (one row per partner and month)."""

    __tablename__ = "period_closes"
    __table_args__ = (UniqueConstraint("partner_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    period: Mapped[date] = mapped_column(Date)  # first day of the month
    boundary: Mapped[datetime]
    closed_at: Mapped[datetime]
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))


class Snapshot(Base):
    """A frozen month-end count; never updated after the period closes."""

    __tablename__ = "snapshots"
    __table_args__ = (UniqueConstraint("partner_id", "period", "company_id", "product_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    period: Mapped[date] = mapped_column(Date)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    quantity: Mapped[int] = mapped_column(Integer)


class Run(Base):
    """One sync run (or preview): its trigger, period, status and totals."""

    __tablename__ = "runs"
    __table_args__ = (Index("ix_runs_partner_started", "partner_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    trigger: Mapped[str] = mapped_column(String(16))  # cli | manual | schedule | month_close | api
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16))
    basis: Mapped[str] = mapped_column(String(16))
    period: Mapped[date | None] = mapped_column(Date)
    counted_at: Mapped[datetime | None]
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    message: Mapped[str | None] = mapped_column(Text)
    warnings: Mapped[str | None] = mapped_column(Text)  # JSON list of strings
    left_out: Mapped[str | None] = mapped_column(Text)  # JSON list: companies no run pushes
    total_items: Mapped[int] = mapped_column(Integer, default=0)
    done_items: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    preview_run_id: Mapped[int | None] = mapped_column(Integer)  # the preview this run applies


FAILED_ITEM = "action = 'error' OR error IS NOT NULL"


class RunItem(Base):
    """A ledger entry: one decision of a run, a write recorded as intent before it is sent."""

    __tablename__ = "run_items"
    __table_args__ = (
        Index("ix_run_items_run", "run_id"),
        Index("ix_run_items_partner_state", "partner_id", "state"),
        # The Problems tab: each company's newest run, and its failures (a partial index).
        Index("ix_run_items_company_run", "company_id", "run_id"),
        Index(
            "ix_run_items_failures",
            "partner_id",
            "company_id",
            "run_id",
            sqlite_where=text(FAILED_ITEM),
            postgresql_where=text(FAILED_ITEM),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id"))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    agreement_id: Mapped[int | None] = mapped_column(Integer)
    addition_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))  # create|update|unchanged|skipped|error
    # intent: sent or about to be; done: confirmed; failed: not applied; settled_*: by a later run
    state: Mapped[str] = mapped_column(String(16))
    quantity_before: Mapped[float | None] = mapped_column(Float)
    quantity_after: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    advice: Mapped[str | None] = mapped_column(Text)
    settled_by_run_id: Mapped[int | None] = mapped_column(Integer)
    # Database time after which another run may settle this open intent (see sync/writes.py).
    settle_after: Mapped[datetime | None]
    replanned: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )  # differs from its preview
    next_invoice_date: Mapped[date | None] = mapped_column(Date)  # the agreement's, at run time
    prorate_flag: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]


class RunLease(Base):
    """Who may run a partner's sync now; expires so a dead holder stops holding."""

    __tablename__ = "run_leases"

    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    token: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0"
    )  # fencing: rises on every acquisition
    run_id: Mapped[int | None] = mapped_column(Integer)
    acquired_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class Schedule(Base):
    """A partner's sync schedule and the persisted state that decides what is due."""

    __tablename__ = "schedules"

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), unique=True)
    frequency: Mapped[str] = mapped_column(String(16))  # daily | weekly
    weekday: Mapped[int | None] = mapped_column(Integer)  # 0 = Monday
    at_time: Mapped[str] = mapped_column(String(5))  # HH:MM local
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    next_run_at: Mapped[datetime | None]
    last_run_at: Mapped[datetime | None]
    next_month_close_at: Mapped[datetime | None]
    last_month_close_period: Mapped[date | None] = mapped_column(Date)
    next_credentials_check_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class AlertSettings(Base):
    """Where a partner wants to hear about failed runs and broken credentials."""

    __tablename__ = "alert_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), unique=True)
    email_to: Mapped[str | None] = mapped_column(String(1000))
    webhook_url: Mapped[str | None] = mapped_column(String(1000))
    updated_at: Mapped[datetime]


class ApiToken(Base):
    """A partner's API bearer token; only its SHA-256 digest is kept (the token is shown once)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    scope: Mapped[str] = mapped_column(String(8))  # read | write (write implies read)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class IdempotencyKey(Base):
    """An API client's Idempotency-Key for POST /syncs and the run it started."""

    __tablename__ = "api_idempotency_keys"
    __table_args__ = (UniqueConstraint("partner_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    key: Mapped[str] = mapped_column(String(255))
    dry_run: Mapped[bool] = mapped_column(Boolean)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))  # None while starting
    created_at: Mapped[datetime]


class RosterMark(Base):
    """The newest user-list snapshot applied to one company's product (older ones are refused)."""

    __tablename__ = "roster_marks"
    __table_args__ = (UniqueConstraint("company_id", "product_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    as_of: Mapped[datetime]
    applied_at: Mapped[datetime]


class CwCompanyCache(Base):
    """A ConnectWise company as last read for match suggestions, with its billable agreement."""

    __tablename__ = "cw_company_cache"
    __table_args__ = (UniqueConstraint("partner_id", "cw_company_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    cw_company_id: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(255))
    identifier: Mapped[str | None] = mapped_column(String(255))
    active_agreements: Mapped[int] = mapped_column(Integer, default=0)
    # Set only when the company has exactly one active agreement: the one a match would use.
    agreement_id: Mapped[int | None] = mapped_column(Integer)
    agreement_name: Mapped[str | None] = mapped_column(String(255))
    fetched_at: Mapped[datetime]


class MatchSuggestion(Base):
    """The ConnectWise company suggested for an unmatched vendor company, and why."""

    __tablename__ = "match_suggestions"

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), unique=True)
    cw_company_id: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(16))  # identical | normalised | similar
    score: Mapped[int] = mapped_column(Integer)  # 0-100
    ties: Mapped[int] = mapped_column(Integer, default=1)  # CW companies sharing the best score
    computed_at: Mapped[datetime]


class MatchRejection(Base):
    """An admin's "not this one": the ConnectWise company is never suggested for it again."""

    __tablename__ = "match_rejections"
    __table_args__ = (UniqueConstraint("company_id", "cw_company_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    cw_company_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]

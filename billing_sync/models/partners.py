"""Partners and what they map: users, connection, products, companies, seats, links."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billing_sync.models.base import Base


class Partner(Base):
    """One MSP: its handle, zone, sync settings and integration switch."""

    __tablename__ = "partners"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    count_basis: Mapped[str] = mapped_column(String(16), default="month_end")
    integration_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    sync_concurrency: Mapped[int | None] = mapped_column(Integer)
    # Days before the month boundary from which the invoice checklist shows (None: 3).
    checklist_days: Mapped[int | None] = mapped_column(Integer)
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
    # Drift policy "adopt": ConnectWise's hand-set value stands while the count stays this.
    adopted_at_count: Mapped[int | None] = mapped_column(Integer)


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

"""Runs and their ledger, the lease, schedules and alert settings."""

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
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from billing_sync.models.base import Base


class Run(Base):
    """One sync run (or preview): its trigger, period, status and totals."""

    __tablename__ = "runs"
    __table_args__ = (Index("ix_runs_partner_started", "partner_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    # cli | manual | schedule | month_close | api | approval | rollback | orphan
    trigger: Mapped[str] = mapped_column(String(16))
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
    held: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # items held
    rollback_of_run_id: Mapped[int | None] = mapped_column(Integer)  # the run it undoes


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
    action: Mapped[str] = mapped_column(String(16))  # create|update|unchanged|skipped|error|held
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
    # A change written after its period was invoiced on a non-prorating agreement: it bills
    # only from the next invoice (next_invoice_date).
    bills_next_invoice: Mapped[bool | None] = mapped_column(Boolean)
    http_status: Mapped[int | None] = mapped_column(
        Integer
    )  # ConnectWise's answer to a failed write
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

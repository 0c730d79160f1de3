"""Month-close confidence: mapping health, agreement replacement and creation, checklist alerts."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from billing_sync.models.base import Base


class MappingHealth(Base):
    """The latest pre-flight check of one mapped company, with its agreement's billing facts."""

    __tablename__ = "mapping_health"

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), unique=True)
    agreement_id: Mapped[int | None] = mapped_column(Integer)  # the agreement checked
    level: Mapped[str] = mapped_column(String(8))  # green | amber | red
    # JSON list of {"level", "code", "message"}: every reason found, worst first.
    reasons: Mapped[str] = mapped_column(Text, default="[]")
    agreement_status: Mapped[str | None] = mapped_column(String(32))
    agreement_type: Mapped[str | None] = mapped_column(String(255))
    billing_cycle: Mapped[str | None] = mapped_column(String(64))
    bill_start_date: Mapped[date | None] = mapped_column(Date)
    next_invoice_date: Mapped[date | None] = mapped_column(Date)
    prorate_flag: Mapped[bool | None] = mapped_column(Boolean)
    run_id: Mapped[int | None] = mapped_column(Integer)  # the run that checked; None: on demand
    checked_at: Mapped[datetime]


class AgreementReplacement(Base):
    """A suggestion to re-point a mapping from an ended agreement to the company's newer one."""

    __tablename__ = "agreement_replacements"
    __table_args__ = (
        UniqueConstraint("company_id", "old_agreement_id", "new_agreement_id"),
        Index("ix_agreement_replacements_partner_status", "partner_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    old_agreement_id: Mapped[int] = mapped_column(Integer)
    old_agreement_name: Mapped[str | None] = mapped_column(String(255))
    old_reason: Mapped[str | None] = mapped_column(String(255))  # why it ended: cancelled, ...
    new_agreement_id: Mapped[int] = mapped_column(Integer)
    new_agreement_name: Mapped[str | None] = mapped_column(String(255))
    # open -> accepted | dismissed; stale: the mapping moved or the old agreement came back
    status: Mapped[str] = mapped_column(String(16), default="open")
    decided_by: Mapped[str | None] = mapped_column(String(255))
    decided_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class AgreementCreation(Base):
    """One "Create agreement" request, written as an intent before its POST (like additions)."""

    __tablename__ = "agreement_creations"
    __table_args__ = (Index("ix_agreement_creations_partner_company", "partner_id", "company_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)  # the marker names it
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    cw_company_id: Mapped[int] = mapped_column(Integer)
    template_agreement_id: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(255))
    agreement_type: Mapped[str | None] = mapped_column(String(255))
    billing_cycle: Mapped[str | None] = mapped_column(String(64))
    start_date: Mapped[date] = mapped_column(Date)
    # intent: about to be sent or sent; done: answered; failed: refused, nothing created;
    # settled_done / settled_failed: decided later by re-reading ConnectWise for the marker
    state: Mapped[str] = mapped_column(String(16), default="intent")
    agreement_id: Mapped[int | None] = mapped_column(Integer)  # the agreement created
    error: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str | None] = mapped_column(String(255))
    settle_after: Mapped[datetime | None]
    created_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]


class ChecklistAlert(Base):
    """The invoice checklist alert sent to a partner on one local day: at most one a day."""

    __tablename__ = "checklist_alerts"
    __table_args__ = (UniqueConstraint("partner_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    day: Mapped[date] = mapped_column(Date)  # in the partner's zone
    summary: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[datetime]

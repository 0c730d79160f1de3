"""Guardrails: hold rules, held writes awaiting a person, and hand edits (drift) found."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from billing_sync.models.base import Base


class GuardRule(Base):
    """Hold thresholds and the drift policy: a partner's (company_id NULL) or one company's."""

    __tablename__ = "guard_rules"
    __table_args__ = (UniqueConstraint("partner_id", "company_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id"))
    # Hold a rise of more than rise_percent % AND more than rise_users users (both must trip).
    rise_percent: Mapped[float | None] = mapped_column(Float)
    rise_users: Mapped[int | None] = mapped_column(Integer)
    fall_percent: Mapped[float | None] = mapped_column(Float)
    fall_users: Mapped[int | None] = mapped_column(Integer)
    hold_zero: Mapped[bool | None] = mapped_column(Boolean)  # a write that takes a count to 0
    # Partner row only: hold every write of a partner's first run when they total more.
    first_run_total: Mapped[int | None] = mapped_column(Integer)
    drift_policy: Mapped[str | None] = mapped_column(String(16))  # overwrite | hold | adopt
    updated_at: Mapped[datetime]


class Hold(Base):
    """A planned write held for a person's decision instead of being sent."""

    __tablename__ = "holds"
    __table_args__ = (Index("ix_holds_partner_status", "partner_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))  # the run that held it
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    agreement_id: Mapped[int] = mapped_column(Integer)
    addition_id: Mapped[int | None] = mapped_column(Integer)  # None: the write is a create
    quantity_before: Mapped[float | None] = mapped_column(Float)
    quantity_after: Mapped[float] = mapped_column(Float)
    rule: Mapped[str] = mapped_column(String(32))  # rise | fall | zero | first_run | drift
    reason: Mapped[str] = mapped_column(Text)
    # open -> approved | rejected; superseded: the count moved on before anyone decided
    status: Mapped[str] = mapped_column(String(16), default="open")
    decided_by: Mapped[str | None] = mapped_column(String(255))
    decided_at: Mapped[datetime | None]
    written_run_id: Mapped[int | None] = mapped_column(Integer)  # the run that wrote it
    created_at: Mapped[datetime]


class Drift(Base):
    """A synced addition someone changed by hand: what we wrote, what ConnectWise showed."""

    __tablename__ = "drifts"
    __table_args__ = (Index("ix_drifts_partner_status", "partner_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))  # the run that found it
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    agreement_id: Mapped[int] = mapped_column(Integer)
    addition_id: Mapped[int] = mapped_column(Integer)
    expected: Mapped[float] = mapped_column(Float)  # the quantity billing-sync last wrote
    found: Mapped[float] = mapped_column(Float)  # what ConnectWise showed
    changed_by: Mapped[str | None] = mapped_column(String(255))  # the addition's _info
    changed_at: Mapped[datetime | None]
    policy: Mapped[str] = mapped_column(String(16))  # the policy applied: overwrite|hold|adopt
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | resolved
    resolved_run_id: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]

"""The worklist's cache of ConnectWise companies, suggestions and rejected matches."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from billing_sync.models.base import Base


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

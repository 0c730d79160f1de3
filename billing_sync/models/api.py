"""API tokens, idempotency keys and roster marks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    ForeignKey,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from billing_sync.models.base import Base


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

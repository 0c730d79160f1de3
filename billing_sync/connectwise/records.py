"""Plain, immutable ConnectWise records the rest of billing_sync works with."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True)
class Addition:
    """An agreement addition: a catalog product billed at a quantity on an agreement."""

    id: int
    agreement_id: int
    product_id: int
    product_identifier: str | None
    quantity: float
    bill_customer: str
    effective_date: datetime | None
    cancelled_date: datetime | None
    description: str | None = None
    serial_number: str | None = None  # where billing-sync stamps its ownership marker
    updated_by: str | None = None  # `_info.updatedBy`: who last changed it (drift says who)
    updated_at: datetime | None = None  # `_info.lastUpdated`

    def is_active(self, at: datetime) -> bool:
        """Active at `at`: not cancelled, or cancelled only in the future."""
        return self.cancelled_date is None or self.cancelled_date > at


@dataclass(frozen=True)
class Agreement:
    """A ConnectWise agreement and what decides whether it may be billed."""

    id: int
    name: str
    company_id: int
    company_name: str | None
    agreement_status: str | None
    cancelled_flag: bool
    end_date: datetime | None
    no_ending_date_flag: bool
    type_name: str | None
    bill_start_date: datetime | None = None
    next_invoice_date: date | None = None
    prorate_flag: bool | None = None
    start_date: datetime | None = None
    billing_cycle: str | None = None  # `billingCycle.name`: Monthly, Quarterly, ...
    internal_notes: str | None = None  # where billing-sync marks an agreement it created

    def inactive_reason(self, at: datetime) -> str | None:
        """Why the agreement cannot carry additions at `at`, or None when it is active."""
        if self.cancelled_flag:
            return "cancelled"
        if self.agreement_status and self.agreement_status != "Active":
            return self.agreement_status.lower()
        if not self.no_ending_date_flag and self.end_date is not None and self.end_date < at:
            return "expired"
        return None


@dataclass(frozen=True)
class CwCompany:
    """A company in ConnectWise (the partner's customer)."""

    id: int
    identifier: str
    name: str
    deleted: bool
    status_name: str | None


@dataclass(frozen=True)
class CatalogItem:
    """A ConnectWise procurement catalog product."""

    id: int
    identifier: str
    description: str | None
    inactive: bool
    product_class: str | None = None

    @property
    def is_bundle(self) -> bool:
        """Bundle-class items cannot be agreement additions in ConnectWise."""
        return (self.product_class or "").casefold() == "bundle"


@dataclass(frozen=True)
class SystemInfo:
    """What /system/info says about the ConnectWise instance."""

    version: str
    is_cloud: bool | None
    server_time_zone: str | None

"""Typed SQLAlchemy 2.x models; every partner-owned row carries partner_id."""

from billing_sync.models.api import ApiToken, IdempotencyKey, RosterMark
from billing_sync.models.base import NAMING, Base, UTCDateTime
from billing_sync.models.confidence import (
    AgreementCreation,
    AgreementReplacement,
    ChecklistAlert,
    MappingHealth,
)
from billing_sync.models.guardrails import Drift, GuardRule, Hold
from billing_sync.models.matching import CwCompanyCache, MatchRejection, MatchSuggestion
from billing_sync.models.partners import (
    AdditionLink,
    Company,
    CompanyMapping,
    Connection,
    Partner,
    PeriodClose,
    Product,
    ProductMapping,
    Seat,
    Snapshot,
    User,
)
from billing_sync.models.runs import FAILED_ITEM, AlertSettings, Run, RunItem, RunLease, Schedule

__all__ = [
    "FAILED_ITEM",
    "NAMING",
    "AdditionLink",
    "AgreementCreation",
    "AgreementReplacement",
    "AlertSettings",
    "ApiToken",
    "Base",
    "ChecklistAlert",
    "Company",
    "CompanyMapping",
    "Connection",
    "CwCompanyCache",
    "Drift",
    "GuardRule",
    "Hold",
    "IdempotencyKey",
    "MappingHealth",
    "MatchRejection",
    "MatchSuggestion",
    "Partner",
    "PeriodClose",
    "Product",
    "ProductMapping",
    "Run",
    "RunItem",
    "RunLease",
    "RosterMark",
    "Schedule",
    "Seat",
    "Snapshot",
    "UTCDateTime",
    "User",
]

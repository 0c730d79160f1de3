"""Before writing: the mapped agreement exists, belongs to the company and is active."""

from __future__ import annotations

from datetime import datetime

from billing_sync.agreement_replacement import ENDED_ADVICE
from billing_sync.connectwise.records import Agreement
from billing_sync.sync.gather import Target

REMAP = "Open Company mappings and choose an active agreement of the right ConnectWise company."


def agreement_problems(
    target: Target, agreement: Agreement | None, now: datetime
) -> tuple[str, str] | None:
    """Why this company's agreement cannot be billed (message, advice), or None when it can."""
    if agreement is None:
        return (f"agreement {target.agreement_id} no longer exists in ConnectWise", REMAP)
    if agreement.company_id != target.cw_company_id:
        return (
            f"agreement {agreement.id} ({agreement.name}) belongs to ConnectWise company "
            f"{agreement.company_id}, not the mapped company {target.cw_company_id}",
            REMAP,
        )
    reason = agreement.inactive_reason(now)
    if reason:
        return (
            f"agreement {agreement.id} ({agreement.name}) is {reason}",
            ENDED_ADVICE,
        )
    return None

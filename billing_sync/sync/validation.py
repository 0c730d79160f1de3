"""Checks before writing: the mapped agreement exists, belongs to the company and is active."""

from __future__ import annotations

import logging
from datetime import datetime

from billing_sync.connectwise.errors import ConnectWiseError
from billing_sync.connectwise.records import Agreement
from billing_sync.sync.context import RunContext, Target
from billing_sync.sync.ledger import Ledger, settle

log = logging.getLogger(__name__)

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
            "Re-activate the agreement in ConnectWise or " + REMAP[0].lower() + REMAP[1:],
        )
    return None


def settle_orphans(
    ledger: Ledger, client, intents: dict, context: RunContext, now: datetime
) -> None:
    """Settle a killed run's intents on agreements this run did not visit (re-mapped since)."""
    cw_products = {p.product_id: p.cw_product_id for p in context.products}
    for agreement_id, items in intents.items():
        try:
            active = client.agreement_additions(agreement_id, active_at=now)
        except ConnectWiseError as exc:
            log.warning(
                "cannot settle %d open write(s) on agreement %s yet: %s",
                len(items),
                agreement_id,
                exc,
            )
            continue
        settle(ledger.factory, items, active, cw_products, run_id=ledger.run_id, now=ledger.clock())

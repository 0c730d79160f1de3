"""Create the agreement for a new customer: exactly once, like an addition, then map it.

1. Check: the CW company exists, is not deleted, has no active agreement; read the template.
2. Intent: an AgreementCreation row is committed before the POST, with `settle_after`; the
   company's row is locked first, so two clicks at once make one intent, never two.
3. Send: one POST, never repeated for that intent; `internalNotes` carries `marker(id)`.
4. Outcome: done (answered), failed (refused: nothing created), or unknown (no answer, a 5xx,
   a garbled body): the intent stays open and "may still land".
5. Before any retry: ConnectWise is re-read for the marker. Found: settled_done. Not found once
   `settle_after` has passed: settled_failed, and the retry is a new intent. Not found before:
   the retry is refused until then. A done creation is mapped (matched_by manual).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from billing_sync import mappings
from billing_sync.agreement_terms import Terms, agreement_body, check_request, marker
from billing_sync.connectwise.errors import (
    ConfigurationError,
    ConnectionFailed,
    ConnectWiseError,
    RateLimited,
    TransientError,
    WriteOutcomeUnknown,
)
from billing_sync.errors import Conflict, InvalidInput
from billing_sync.models import AgreementCreation, Company, Partner
from billing_sync.settings import Settings
from billing_sync.sync.writes import WriteTiming
from billing_sync.text import clip_optional

log = logging.getLogger(__name__)
OPEN, DONE = ("intent",), ("done", "settled_done")
MAY_LAND = (
    "ConnectWise may still create this agreement (its answer was lost); billing-sync re-reads "
    "ConnectWise before any retry and never sends a second create for it."
)


@dataclass(frozen=True)
class CreationRequest:
    """What the admin asked for: company, CW company, template, and optional name and start."""

    partner_id: int
    external_id: str
    cw_company_id: int
    template_id: int
    name: str | None = None
    start: date | None = None
    user: str = "admin"


@dataclass(frozen=True)
class CreationResult:
    """The creation row as it ended, and what to tell the admin."""

    creation: AgreementCreation
    message: str


def _unknown(exc: ConnectWiseError) -> bool:
    """A refused POST did nothing; a lost, 5xx or garbled answer may hide a created agreement."""
    if isinstance(exc, WriteOutcomeUnknown):
        return True
    if isinstance(exc, RateLimited | ConfigurationError | ConnectionFailed):
        return False  # 429, 4xx, or the connection failed before a byte was sent
    return isinstance(exc, TransientError) or exc.status is None or exc.status >= 500


def latest(session: Session, company_id: int) -> AgreementCreation | None:
    """The company's most recent creation, whatever its state."""
    return session.scalar(
        select(AgreementCreation)
        .where(AgreementCreation.company_id == company_id)
        .order_by(AgreementCreation.id.desc())
        .limit(1)
    )


def _settle_open(client, creation: AgreementCreation, now: datetime) -> str | None:
    """Re-read ConnectWise for an open intent's marker: the state to record, or None (wait)."""
    found = client.agreements_with_marker(creation.cw_company_id, marker(creation.id))
    if found:
        return f"settled_done:{min(a.id for a in found)}"
    if creation.settle_after is not None and _aware(creation.settle_after) > now:
        return None
    return "settled_failed"


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; they are UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _lock_company(session: Session, company_id: int) -> None:
    """Serialise creations of one company: a no-op UPDATE takes its row (or SQLite's) lock.

    It sets a non-key column, so PostgreSQL's lock does not block rows referencing the company.
    """
    session.execute(update(Company).where(Company.id == company_id).values(name=Company.name))


def _decide_earlier(factory, client, company: Company, now: datetime) -> None:
    """Before a new intent: settle an open one from ConnectWise, or refuse while it may land."""
    with factory() as session:
        earlier = latest(session, company.id)
    if earlier is None or earlier.state not in OPEN:
        return
    decision = _settle_open(client, earlier, now)
    if decision is None:
        zone = ZoneInfo(_zone(factory, company.partner_id))
        until = _aware(earlier.settle_after).astimezone(zone)
        raise Conflict(
            f"agreement creation {earlier.id} for {company.name} got no answer and may still "
            f"land in ConnectWise; wait until {until:%Y-%m-%d %H:%M:%S %Z} and try again"
        )
    with factory.begin() as session:
        _lock_company(session, company.id)
        row = session.get(AgreementCreation, earlier.id)
        if row.state not in OPEN:
            return  # another request decided it meanwhile
        state, _, agreement_id = decision.partition(":")
        row.state = state
        row.agreement_id = int(agreement_id) if agreement_id else None
        row.completed_at = now
        row.error = clip_optional(f"{row.error or 'no answer'}; {state} on re-read")


def _still_to_map(factory, company: Company, done: AgreementCreation) -> bool:
    """True while nobody has mapped the company since the agreement was made (e.g. the answer
    was lost, or mapping failed): a person's later choice is never overwritten."""
    with factory() as session:
        mapping = mappings.get_mapping(session, company)
    if mapping is None:
        return True
    if mapping.status == "mapped" and mapping.agreement_id == done.agreement_id:
        return False
    return done.completed_at is not None and _aware(mapping.updated_at) <= _aware(done.completed_at)


def _zone(factory, partner_id: int) -> str:
    with factory() as session:
        return session.get(Partner, partner_id).timezone


def _open_intent(factory, company: Company, terms: Terms, req: CreationRequest, timing, now):
    """Commit the intent, unless the company already has an open or done creation."""
    with factory.begin() as session:
        _lock_company(session, company.id)
        earlier = latest(session, company.id)
        if earlier is not None and earlier.state in OPEN + DONE:
            made = f"made agreement {earlier.agreement_id}"
            what = "is still open" if earlier.state in OPEN else made
            raise Conflict(f"agreement creation {earlier.id} for {company.name} {what}")
        creation = AgreementCreation(
            partner_id=company.partner_id,
            company_id=company.id,
            cw_company_id=req.cw_company_id,
            template_agreement_id=req.template_id,
            name=terms.name,
            agreement_type=clip_optional(terms.type_name, 255),
            billing_cycle=clip_optional(terms.billing_cycle, 64),
            start_date=terms.start,
            state="intent",
            requested_by=clip_optional(req.user, 255),
            settle_after=now + timedelta(seconds=timing.settle_after),
            created_at=now,
        )
        session.add(creation)
        session.flush()
        return creation


def _send(client, creation: AgreementCreation, body: dict[str, Any], send_by: float):
    """One POST: (state, agreement or None, error)."""
    if time.monotonic() >= send_by:
        return "failed", None, "not sent: the write window had passed"
    try:
        return "done", client.create_agreement(body), None
    except ConnectWiseError as exc:
        return ("intent" if _unknown(exc) else "failed"), None, f"{exc} — {exc.advice}"
    except Exception as exc:  # noqa: BLE001 - a bug after sending must not lose the intent
        log.exception("agreement creation %s failed unexpectedly", creation.id)
        return "intent", None, f"internal error after sending: {exc}"


def _record(factory, creation_id: int, state: str, agreement, error, now) -> AgreementCreation:
    with factory.begin() as session:
        row = session.get(AgreementCreation, creation_id)
        row.state = state
        row.error = clip_optional(error)
        if agreement is not None:
            row.agreement_id = agreement.id
        if state != "intent":
            row.completed_at = now
        return row


def map_created(factory, client, creation: AgreementCreation, now: datetime) -> None:
    """Map the vendor company to the agreement it got (re-read from ConnectWise)."""
    agreement = client.agreements_by_ids([creation.agreement_id]).get(creation.agreement_id)
    if agreement is None:
        raise InvalidInput(f"agreement {creation.agreement_id} is not in ConnectWise any more")
    with factory.begin() as session:
        company = session.get(Company, creation.company_id)
        mapping = mappings.get_mapping(session, company)
        if mapping is not None and mapping.agreement_id == agreement.id:
            return
        mappings.save_mapping(
            session, company, creation.cw_company_id, agreement, matched_by="manual", now=now
        )


def create_for_company(
    factory: sessionmaker[Session], settings: Settings, client, req: CreationRequest, now: datetime
) -> CreationResult:
    """Check, settle any earlier intent, open a new one, POST once, record, then map."""
    with factory() as session:
        company = mappings.get_company(session, req.partner_id, req.external_id)
        zone = session.get(Partner, req.partner_id).timezone
    _decide_earlier(factory, client, company, now)
    with factory() as session:
        done = latest(session, company.id)
    if done is not None and done.state in DONE:
        if not _still_to_map(factory, company, done):
            raise Conflict(
                f"agreement creation {done.id} for {company.name} made agreement "
                f"{done.agreement_id} already; map the company on its page if you need to"
            )
        map_created(factory, client, done, now)  # it landed after all: map it now
        return CreationResult(done, f"agreement {done.agreement_id} landed; {company.name} mapped")
    terms = check_request(client, req, company.name, ZoneInfo(zone), now)
    timing = WriteTiming.from_settings(settings.cw_timeout_seconds, settings.settle_margin_seconds)
    started = time.monotonic()
    creation = _open_intent(factory, company, terms, req, timing, now)
    body = agreement_body(terms, req.cw_company_id, marker(creation.id))
    state, agreement, error = _send(client, creation, body, started + timing.window)
    creation = _record(factory, creation.id, state, agreement, error, now)
    if state == "done":
        map_created(factory, client, creation, now)
        said = f"created agreement {agreement.id} and mapped {company.name}"
        return CreationResult(creation, said)
    if state == "failed":
        return CreationResult(creation, f"ConnectWise refused the agreement: {error}")
    return CreationResult(creation, f"no answer from ConnectWise: {MAY_LAND}")

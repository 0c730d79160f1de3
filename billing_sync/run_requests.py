"""Runs asked for over the API: refused while the integration is off, repeatable by a key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from billing_sync.errors import Conflict, InvalidInput, NotFoundError
from billing_sync.models import IdempotencyKey, Partner
from billing_sync.settings import Settings
from billing_sync.sync import RunHandle, begin_run

MAX_KEY_LENGTH = 255
DISABLED = (
    "the ConnectWise integration is disabled for this partner: a run would write nothing "
    "(enable it to sync; a dry run still works)"
)


@dataclass(frozen=True)
class StartedRun:
    """The run a request stands for; `handle` is None when it repeats an earlier request."""

    run_id: int
    handle: RunHandle | None


def _claim(
    factory: sessionmaker[Session], partner_id: int, key: str, dry_run: bool, now: datetime
) -> int | None:
    """Claim the key for a new run, or return the run an earlier request with it started."""
    try:
        with factory.begin() as session:
            session.add(
                IdempotencyKey(partner_id=partner_id, key=key, dry_run=dry_run, created_at=now)
            )
        return None
    except IntegrityError:
        pass
    with factory() as session:
        earlier = session.scalars(
            select(IdempotencyKey).where(
                IdempotencyKey.partner_id == partner_id, IdempotencyKey.key == key
            )
        ).one()
    if earlier.dry_run != dry_run:
        shown = "true" if earlier.dry_run else "false"
        raise InvalidInput(f"this Idempotency-Key was used for a request with dry_run={shown}")
    if earlier.run_id is None:
        raise Conflict("a request with this Idempotency-Key is still starting its run")
    return earlier.run_id


def _forget(factory: sessionmaker[Session], partner_id: int, key: str) -> None:
    with factory.begin() as session:
        session.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.partner_id == partner_id, IdempotencyKey.key == key
            )
        )


def start_run(
    factory: sessionmaker[Session],
    settings: Settings,
    partner_id: int,
    *,
    now: datetime,
    dry_run: bool,
    key: str | None = None,
    trigger: str = "api",
) -> StartedRun:
    """Begin a run (the caller executes the handle), or find the one this key already started.

    Conflict when the integration is disabled (real runs) and RunInProgress while another
    run holds the lease, both before anything is recorded; a refused request frees its key.
    """
    if key is not None and not 0 < len(key) <= MAX_KEY_LENGTH:
        raise InvalidInput(f"an Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters")
    if key is not None and (earlier := _claim(factory, partner_id, key, dry_run, now)):
        return StartedRun(earlier, None)
    try:
        with factory() as session:
            partner = session.get(Partner, partner_id)
            if partner is None:
                raise NotFoundError(f"no partner with id {partner_id}")
            if not dry_run and not partner.integration_enabled:
                raise Conflict(DISABLED)
        handle = begin_run(factory, settings, partner_id, now=now, trigger=trigger, dry_run=dry_run)
    except Exception:
        if key is not None:
            _forget(factory, partner_id, key)
        raise
    if key is not None:
        with factory.begin() as session:
            session.execute(
                update(IdempotencyKey)
                .where(IdempotencyKey.partner_id == partner_id, IdempotencyKey.key == key)
                .values(run_id=handle.run_id)
            )
    return StartedRun(handle.run_id, handle)

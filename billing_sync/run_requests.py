"""Runs asked for over the API: refused while the integration is off, repeatable by a key."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from billing_sync.errors import Conflict, InvalidInput, NotFoundError
from billing_sync.launch import Launcher, start_run
from billing_sync.models import IdempotencyKey, Partner
from billing_sync.settings import Settings

MAX_KEY_LENGTH = 255
DISABLED = (
    "the ConnectWise integration is disabled for this partner: a run would write nothing "
    "(enable it to sync; a dry run still works)"
)


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


def start_requested_run(
    factory: sessionmaker[Session],
    settings: Settings,
    launcher: Launcher,
    partner_id: int,
    *,
    now: datetime,
    dry_run: bool,
    key: str | None = None,
    trigger: str = "api",
) -> int:
    """Start a run through `launch.start_run`, or find the one this key already started.

    Conflict when the integration is disabled (real runs) and RunInProgress while another
    run holds the lease, both before anything is recorded; a refused request frees its key.
    """
    if key is not None and not 0 < len(key) <= MAX_KEY_LENGTH:
        raise InvalidInput(f"an Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters")
    if key is not None and (earlier := _claim(factory, partner_id, key, dry_run, now)):
        return earlier
    try:
        with factory() as session:
            partner = session.get(Partner, partner_id)
            if partner is None:
                raise NotFoundError(f"no partner with id {partner_id}")
            if not dry_run and not partner.integration_enabled:
                raise Conflict(DISABLED)
        started = start_run(
            factory, settings, launcher, partner_id, now=now, trigger=trigger, dry_run=dry_run
        )
    except Exception:
        if key is not None:
            _forget(factory, partner_id, key)
        raise
    if key is not None:
        with factory.begin() as session:
            session.execute(
                update(IdempotencyKey)
                .where(IdempotencyKey.partner_id == partner_id, IdempotencyKey.key == key)
                .values(run_id=started.run_id)
            )
    return started.run_id

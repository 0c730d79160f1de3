"""The run lease: one sync per partner at a time, across processes, expiring if its holder dies."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from billing_sync.models import RunLease


def new_holder() -> str:
    """A name unique to this process and attempt, readable in the database."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def acquire_lease(
    factory: sessionmaker[Session], partner_id: int, holder: str, *, now: datetime, seconds: int
) -> bool:
    """Take the partner's lease if it is free or expired; True when this holder has it."""
    expires = now + timedelta(seconds=seconds)
    with factory.begin() as session:
        taken = session.execute(
            update(RunLease)
            .where(
                RunLease.partner_id == partner_id,
                (RunLease.expires_at <= now) | (RunLease.holder == holder),
            )
            .values(holder=holder, acquired_at=now, expires_at=expires, run_id=None)
        ).rowcount
        if taken:
            return True
        if session.get(RunLease, partner_id) is not None:
            return False
    try:
        with factory.begin() as session:
            session.add(
                RunLease(partner_id=partner_id, holder=holder, acquired_at=now, expires_at=expires)
            )
        return True
    except IntegrityError:
        return False  # another process inserted it between our two statements


def renew_lease(
    factory: sessionmaker[Session],
    partner_id: int,
    holder: str,
    *,
    now: datetime,
    seconds: int,
    run_id: int | None = None,
) -> bool:
    """Extend a lease we hold; False means it expired and someone else took it."""
    values = {"expires_at": now + timedelta(seconds=seconds)}
    if run_id is not None:
        values["run_id"] = run_id
    with factory.begin() as session:
        return bool(
            session.execute(
                update(RunLease)
                .where(RunLease.partner_id == partner_id, RunLease.holder == holder)
                .values(**values)
            ).rowcount
        )


def release_lease(factory: sessionmaker[Session], partner_id: int, holder: str) -> None:
    """Give the lease back (only if we still hold it)."""
    with factory.begin() as session:
        session.execute(
            delete(RunLease).where(RunLease.partner_id == partner_id, RunLease.holder == holder)
        )


def current_lease(session: Session, partner_id: int, *, now: datetime) -> RunLease | None:
    """The unexpired lease on a partner, if any (for 'a run is in progress' messages)."""
    return session.scalar(
        select(RunLease).where(RunLease.partner_id == partner_id, RunLease.expires_at > now)
    )

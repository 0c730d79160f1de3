"""The run lease: one writing run per partner, fenced by a token, timed by the database's clock.

Every time is read from the database (`database_now`), never from the process: two processes
with skewed clocks, or one frozen for a while, still agree on when a lease has run out.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from billing_sync.db import bound_idle_transaction
from billing_sync.models import RunLease


class LeaseLost(Exception):
    """The run no longer holds its partner's lease: it must stop writing at once."""


@dataclass(frozen=True)
class Lease:
    """A held lease: the holder's name and the fencing token every write is checked against."""

    partner_id: int
    holder: str
    token: int


def new_holder() -> str:
    """A name unique to this process and attempt, readable in the database."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def database_now(conn: Connection | Session) -> datetime:
    """The database server's current time (aware UTC), not the transaction's start time."""
    dialect = conn.dialect if isinstance(conn, Connection) else conn.get_bind().dialect
    if dialect.name == "sqlite":
        raw = conn.execute(text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")).scalar_one()
        return datetime.fromisoformat(raw).replace(tzinfo=UTC)
    return conn.execute(select(func.clock_timestamp())).scalar_one().astimezone(UTC)


def acquire_lease(
    factory: sessionmaker[Session], partner_id: int, holder: str, *, seconds: int
) -> Lease | None:
    """Take the partner's lease if it is free or expired, with a new token; None when held."""
    with factory.begin() as session:
        now = database_now(session)
        values = {
            "holder": holder,
            "acquired_at": now,
            "expires_at": now + timedelta(seconds=seconds),
        }
        taken = session.execute(
            update(RunLease)
            .where(RunLease.partner_id == partner_id, RunLease.expires_at <= now)
            .values(token=RunLease.token + 1, run_id=None, **values)
        ).rowcount
        if taken:
            token = session.scalar(select(RunLease.token).where(RunLease.partner_id == partner_id))
            return Lease(partner_id, holder, token)
        if session.get(RunLease, partner_id) is not None:
            return None
    try:
        with factory.begin() as session:
            session.execute(insert(RunLease).values(partner_id=partner_id, token=1, **values))
        return Lease(partner_id, holder, 1)
    except IntegrityError:
        return None  # another process inserted it between our two statements


def hold(
    conn: Connection | Session, lease: Lease, *, seconds: int, run_id: int | None = None
) -> datetime:
    """Extend the lease inside the caller's transaction and return the database time.

    Raises LeaseLost when the lease has expired or another holder took it: the caller's
    transaction (an intent, say) must then be rolled back, so nothing is written.
    """
    bound_idle_transaction(conn if isinstance(conn, Connection) else conn.connection())
    now = database_now(conn)
    values: dict = {"expires_at": now + timedelta(seconds=seconds)}
    if run_id is not None:
        values["run_id"] = run_id
    held = conn.execute(
        update(RunLease)
        .where(
            RunLease.partner_id == lease.partner_id,
            RunLease.token == lease.token,
            RunLease.holder == lease.holder,
            RunLease.expires_at > now,
        )
        .values(**values)
    ).rowcount
    if not held:
        raise LeaseLost(f"the lease of partner {lease.partner_id} (token {lease.token}) is lost")
    return now


def renew_lease(
    factory: sessionmaker[Session], lease: Lease, *, seconds: int, run_id: int | None = None
) -> bool:
    """Extend a lease we hold; False means it expired (someone else may have it)."""
    try:
        with factory.begin() as session:
            hold(session, lease, seconds=seconds, run_id=run_id)
        return True
    except LeaseLost:
        return False


def release_lease(factory: sessionmaker[Session], lease: Lease) -> None:
    """Give the lease back if we still hold it; the row stays so tokens keep rising."""
    with factory.begin() as session:
        now = database_now(session)
        session.execute(
            update(RunLease)
            .where(
                RunLease.partner_id == lease.partner_id,
                RunLease.token == lease.token,
                RunLease.holder == lease.holder,
            )
            .values(expires_at=now, run_id=None)
        )


def current_lease(session: Session, partner_id: int) -> RunLease | None:
    """The unexpired lease on a partner, if any (for 'a run is in progress' messages)."""
    now = database_now(session)
    return session.scalar(
        select(RunLease).where(RunLease.partner_id == partner_id, RunLease.expires_at > now)
    )

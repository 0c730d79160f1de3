"""A partner's ConnectWise connection: save (key encrypted), build a client, authenticate."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_sync.connectwise.client import ConnectWiseClient, Credentials, Limits, Stop
from billing_sync.connectwise.errors import ConnectWiseError
from billing_sync.connectwise.hosts import check_site, tidy_site
from billing_sync.connectwise.records import SystemInfo
from billing_sync.crypto import decrypt_secret, encrypt_secret, key_hint
from billing_sync.errors import InvalidInput, NotFoundError
from billing_sync.models import Connection, Partner
from billing_sync.settings import Settings
from billing_sync.text import clip
from billing_sync.validation import text

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@dataclass(frozen=True)
class ConnectionForm:
    """What an admin enters; private_key None keeps the stored one."""

    site: str
    company_id: str
    public_key: str
    private_key: str | None
    client_id: str


def get_connection(session: Session, partner_id: int) -> Connection | None:
    """The partner's connection row, if any."""
    return session.scalar(select(Connection).where(Connection.partner_id == partner_id))


def site_notes(site: str) -> list[str]:
    """What saving changes in a typed site (scheme added, browser path left out), in words."""
    return tidy_site(site)[1]


def _validate(form: ConnectionForm, settings: Settings) -> ConnectionForm:
    """The form with every field checked against its column; the site as the client will use it."""
    company_id = text(form.company_id, "company id", 100)
    public_key = text(form.public_key, "public key", 100)
    private_key = text(form.private_key, "private key", 255, required=False) or None
    client_id = text(form.client_id, "client id", 64)
    if not GUID.fullmatch(client_id):
        raise InvalidInput("client id must be a GUID like 1b2c3d4e-0000-4000-8000-123456789abc")
    tidied, _notes = tidy_site(text(form.site, "site", 2000))
    try:
        site = check_site(tidied, settings.allow_private_hosts)
    except ConnectWiseError as exc:
        raise InvalidInput(f"{exc} ({exc.advice})") from exc
    site = text(site, "site", 255)  # with the scheme added, it must still fit
    return ConnectionForm(site, company_id, public_key, private_key, client_id)


def save_connection(
    session: Session, settings: Settings, partner: Partner, form: ConnectionForm, *, now: datetime
) -> Connection:
    """Validate and store the connection; the private key is encrypted and never returned."""
    form = _validate(form, settings)
    connection = get_connection(session, partner.id)
    if not form.private_key and connection is None:
        raise InvalidInput("private key is required")
    secret = settings.require_secret()
    if connection is None:
        connection = Connection(partner_id=partner.id)
        session.add(connection)
    if form.private_key:
        connection.private_key_encrypted = encrypt_secret(secret, form.private_key)
        connection.private_key_hint = key_hint(form.private_key)
    changed_target = (connection.site, connection.company_id) != (form.site, form.company_id)
    connection.site = form.site
    connection.company_id = form.company_id
    connection.public_key = form.public_key
    connection.client_id = form.client_id
    if changed_target:
        connection.codebase = None  # a new site or company may run another codebase
    connection.last_check_ok = None
    connection.updated_at = now
    session.flush()
    return connection


def credentials_for(connection: Connection, settings: Settings) -> Credentials:
    """Decrypt the stored key into client credentials (kept in memory only)."""
    private_key = decrypt_secret(settings.require_secret(), connection.private_key_encrypted)
    return Credentials(
        site=connection.site,
        company_id=connection.company_id,
        public_key=connection.public_key,
        private_key=private_key,
        client_id=connection.client_id,
    )


def client_for(
    session: Session,
    settings: Settings,
    partner_id: int,
    *,
    within: float | None = None,
    stop: Stop | None = None,
) -> ConnectWiseClient:
    """A ConnectWise client for the partner, or NotFoundError when none is configured.

    `within`: seconds everything the client does must end in (a page's wait), counted from now;
    `stop`: once it returns True, listings stop between pages (a run that is stopping).
    """
    connection = get_connection(session, partner_id)
    if connection is None:
        raise NotFoundError("ConnectWise is not connected yet: save the connection first")
    credentials = credentials_for(connection, settings)
    return _client(settings, credentials, connection.codebase, within=within, stop=stop)


def _client(
    settings: Settings,
    credentials: Credentials,
    codebase: str | None,
    *,
    within: float | None = None,
    stop: Stop | None = None,
) -> ConnectWiseClient:
    timeout = settings.cw_timeout_seconds
    if within is not None:
        timeout = min(timeout, within)
    limits = Limits(
        max_pages=settings.cw_max_pages,
        max_body_bytes=settings.cw_max_body_mb * 2**20,
        deadline=None if within is None else time.monotonic() + within,
        stop=stop,
    )
    return ConnectWiseClient(
        credentials,
        timeout=timeout,
        max_retries=settings.cw_max_retries,
        allow_private_hosts=settings.allow_private_hosts,
        codebase=codebase,
        limits=limits,
    )


def authenticate(
    session: Session,
    settings: Settings,
    partner_id: int,
    *,
    now: datetime,
    within: float | None = None,
) -> SystemInfo:
    """Call /system/info, remember the outcome on the connection, and return the info.

    The whole check (codebase discovery included) ends within `within` seconds, by default
    BILLING_SYNC_CW_TIMEOUT: one check, one deadline.
    """
    connection = get_connection(session, partner_id)
    within = settings.cw_timeout_seconds if within is None else within
    with client_for(session, settings, partner_id, within=within) as client:
        try:
            info = client.system_info()
        except ConnectWiseError as exc:
            connection.last_checked_at = now
            connection.last_check_ok = False
            connection.last_check_message = clip(f"{exc} — {exc.advice}")
            raise
        codebase = client.codebase
    _checked_ok(connection, info, codebase, now)
    return info


def _checked_ok(connection: Connection, info: SystemInfo, codebase: str, now: datetime) -> None:
    connection.codebase = codebase
    connection.last_checked_at = now
    connection.last_check_ok = True
    connection.cw_version = info.version
    connection.last_check_message = f"Connected to ConnectWise {info.version}"


@dataclass(frozen=True)
class CheckOutcome:
    """What checking typed credentials came to: the version, or why not; and whether the
    outcome was noted on the stored connection (a failed check of the stored values)."""

    info: SystemInfo | None
    error: ConnectWiseError | None = None
    noted: bool = False


def check_and_save(
    session: Session,
    settings: Settings,
    partner: Partner,
    form: ConnectionForm,
    *,
    now: datetime,
    within: float | None = None,
) -> CheckOutcome:
    """Call /system/info with the typed values and save them only when ConnectWise accepts them.

    An empty private key means the stored one. A refusal saves nothing; it is noted on the
    stored connection only when the values are the stored ones. Bad input raises InvalidInput.
    """
    checked = _validate(form, settings)
    connection = get_connection(session, partner.id)
    if not checked.private_key and connection is None:
        raise InvalidInput("private key is required")
    private_key = checked.private_key or decrypt_secret(
        settings.require_secret(), connection.private_key_encrypted
    )
    credentials = Credentials(
        checked.site, checked.company_id, checked.public_key, private_key, checked.client_id
    )
    target = (checked.site, checked.company_id)
    stored = connection is not None and (connection.site, connection.company_id) == target
    within = settings.cw_timeout_seconds if within is None else within
    codebase = connection.codebase if stored else None
    with _client(settings, credentials, codebase, within=within) as client:
        try:
            info = client.system_info()
        except ConnectWiseError as exc:
            noted = stored and not checked.private_key and _same_member(connection, checked)
            if noted:
                connection.last_checked_at = now
                connection.last_check_ok = False
                connection.last_check_message = clip(f"{exc} — {exc.advice}")
            return CheckOutcome(None, exc, noted)
        codebase = client.codebase
    connection = save_connection(session, settings, partner, form, now=now)
    _checked_ok(connection, info, codebase, now)
    return CheckOutcome(info)


def _same_member(connection: Connection, checked: ConnectionForm) -> bool:
    return (connection.public_key, connection.client_id) == (checked.public_key, checked.client_id)

"""Scheduler test helpers: an injected clock, a fake run, loopback receivers, simulator worlds."""

from __future__ import annotations

import json
import socketserver
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
from sqlalchemy import select, update

from billing_sync import catalog, mappings, partner_connection, partners
from billing_sync.connectwise.records import Agreement, CatalogItem
from billing_sync.errors import RunInProgress
from billing_sync.lease import acquire_lease, new_holder, release_lease
from billing_sync.models import Company, Partner, Run, Schedule, Seat
from billing_sync.scheduler.jobs import Jobs
from billing_sync.scheduler.loop import tick
from billing_sync.scheduler.service import set_schedule
from cw_simulator import SimulatorState

CLIENT_ID = "5f1e6a3c-0000-4000-8000-000000000001"
PRIVATE_KEY = "sim-private-key-7f3e"


class Clock:
    """An injected clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class FakeRun:
    """Stands in for run_sync: takes the real lease, records a Run row, returns a report."""

    status: str = "succeeded"
    error: Exception | None = None
    delay: float = 0.0
    calls: list[tuple[int, str, datetime]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, factory, settings, partner_id, *, now, trigger, stop):
        lease = acquire_lease(factory, partner_id, new_holder(), seconds=60)
        if lease is None:
            raise RunInProgress("a sync is already running")
        try:
            with self.lock:
                self.calls.append((partner_id, trigger, now))
            if self.error is not None:
                raise self.error
            stop.wait(self.delay)
            with factory.begin() as session:
                run = Run(
                    partner_id=partner_id,
                    trigger=trigger,
                    status=self.status,
                    basis="month_end",
                    started_at=now,
                    finished_at=now,
                )
                session.add(run)
                session.flush()
                run_id = run.id
            return SimpleNamespace(run_id=run_id, status=self.status, message=None)
        finally:
            release_lease(factory, lease)


@dataclass
class FakeCheck:
    """Stands in for the /system/info check; fails with `error` when set."""

    error: Exception | None = None
    calls: list[int] = field(default_factory=list)

    def __call__(self, factory, settings, partner_id, now):
        self.calls.append(partner_id)
        if self.error is not None:
            raise self.error


@dataclass
class Harness:
    """One scheduler under test: its clock, fakes and a tick function."""

    factory: object
    settings: object
    clock: Clock
    run: FakeRun
    check: FakeCheck
    stop: threading.Event = field(default_factory=threading.Event)

    def tick(self) -> None:
        tick(
            self.factory,
            self.settings,
            clock=self.clock,
            stop=self.stop,
            jobs=Jobs(run=self.run, check=self.check),
        )

    def triggers(self) -> list[tuple[int, str, datetime]]:
        return list(self.run.calls)


@pytest.fixture
def harness(session_factory, settings) -> Harness:
    return Harness(
        session_factory,
        settings,
        Clock(datetime(2026, 3, 1, 1, tzinfo=UTC)),
        FakeRun(),
        FakeCheck(),
    )


def run_rows(factory, partner_id: int | None = None) -> list[Run]:
    with factory() as session:
        query = select(Run).order_by(Run.id)
        if partner_id is not None:
            query = query.where(Run.partner_id == partner_id)
        return list(session.scalars(query))


# --- loopback receivers -------------------------------------------------------------------


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib: greeting, EHLO, MAIL, RCPT, DATA, QUIT."""

    def reply(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self) -> None:
        self.reply("220 localhost test SMTP")
        envelope = {"rcpt": [], "data": ""}
        while line := self.rfile.readline():
            verb = line.decode().strip().split(" ")[0].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250 localhost")
            elif verb == "MAIL":
                envelope["from"] = line.decode().strip()
                self.reply("250 OK")
            elif verb == "RCPT":
                envelope["rcpt"].append(line.decode().strip().split(":", 1)[1].strip("<> "))
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 go ahead")
                envelope["data"] = self._read_data()
                self.server.messages.append(dict(envelope))
                self.reply("250 OK queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("250 OK")

    def _read_data(self) -> str:
        lines = []
        while (line := self.rfile.readline()) not in (b".\r\n", b""):
            lines.append(line.decode())
        return "".join(lines)


class _SmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture
def smtp_receiver():
    """An SMTP server on loopback; `.messages` holds what arrived, `.port` where to send."""
    server = _SmtpServer(("127.0.0.1", 0), _SmtpHandler)
    server.messages = []
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield SimpleNamespace(port=server.server_address[1], messages=server.messages)
    server.shutdown()
    server.server_close()


class _HookHandler(BaseHTTPRequestHandler):
    def log_message(self, format, *args) -> None:
        """Quiet."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.received.append(
            {"path": self.path, "headers": dict(self.headers), "json": json.loads(body)}
        )
        self.send_response(self.server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def webhook_receiver():
    """An HTTP server on loopback recording JSON POSTs; set `.status` to answer with an error."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HookHandler)
    server.received, server.status = [], 204
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield SimpleNamespace(
        url=f"http://127.0.0.1:{server.server_address[1]}/hooks/billing",
        received=server.received,
        server=server,
    )
    server.shutdown()
    server.server_close()


# --- a configured partner on the simulator ------------------------------------------------


def sim_state() -> SimulatorState:
    return SimulatorState(
        company_id="acme", public_key="pub-key", private_key=PRIVATE_KEY, client_id=CLIENT_ID
    )


def add_partner(
    factory,
    settings,
    name: str,
    *,
    site: str | None,
    tz: str = "UTC",
    enabled: bool = True,
    now: datetime,
) -> int:
    """A partner, optionally connected to `site`; returns its id."""
    with factory.begin() as session:
        partner = partners.create_partner(session, name, timezone=tz, now=now)
        partners.set_integration(partner, enabled)
        if site is not None:
            form = partner_connection.ConnectionForm(
                site, "acme", "pub-key", PRIVATE_KEY, CLIENT_ID
            )
            partner_connection.save_connection(session, settings, partner, form, now=now)
        return partner.id


def map_companies(
    factory,
    state: SimulatorState,
    partner_id: int,
    companies: int,
    *,
    users: int = 3,
    now: datetime,
) -> list[int]:
    """Mapped companies with `users` seats of one mapped product; returns agreement ids."""
    agreements = []
    with factory.begin() as session:
        product = catalog.add_product(session, f"pb-{partner_id}", f"Password Boss {partner_id}")
        item = state.add_catalog_item(identifier=f"PB-{partner_id}", description="per user")
        catalog.map_product(
            session,
            partner_id,
            product,
            CatalogItem(item["id"], item["identifier"], item["description"], False),
            now=now,
        )
        for i in range(companies):
            cw_company = state.add_company(name=f"Customer {partner_id}-{i}")
            record = state.add_agreement(company_id=cw_company["id"], name=f"MSA {i}")
            company = Company(partner_id=partner_id, external_id=f"ext-{i}", name=f"C{i}")
            session.add(company)
            session.flush()
            mappings.save_mapping(
                session,
                company,
                cw_company["id"],
                Agreement(
                    record["id"],
                    record["name"],
                    cw_company["id"],
                    cw_company["name"],
                    "Active",
                    False,
                    None,
                    True,
                    None,
                ),
                matched_by="manual",
                now=now,
            )
            for n in range(users):
                session.add(
                    Seat(
                        partner_id=partner_id,
                        company_id=company.id,
                        product_id=product.id,
                        user_external_id=f"u{n}",
                        active_from=now - timedelta(days=90),
                        updated_at=now,
                    )
                )
            agreements.append(record["id"])
    return agreements


def make_due(factory, partner_id: int, *, month_close: bool = False) -> None:
    """Schedule the partner and make its regular run (and month close) due a while ago."""
    now = datetime.now(UTC)
    with factory.begin() as session:
        set_schedule(
            session,
            session.get(Partner, partner_id),
            "daily",
            weekday=None,
            at_time="03:00",
            now=now,
        )
        values = {"next_run_at": now - timedelta(hours=5)}
        if month_close:
            values["next_month_close_at"] = now - timedelta(minutes=1)
        session.execute(update(Schedule).where(Schedule.partner_id == partner_id).values(**values))

"""A hostile ConnectWise on loopback: it drips, pages forever, or answers without end.

Each test gives the server a function per request; helpers below write the usual hostile answers
(stdlib http.server in a thread, like tests/connectwise/test_client_retries.py).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from billing_sync import catalog, mappings, partner_connection, partners
from billing_sync.connectwise.client import ConnectWiseClient, Credentials, Limits
from billing_sync.connectwise.records import Agreement, CatalogItem
from billing_sync.models import Company, Seat

CODEBASE = "v4_6_release/"
CLIENT_ID = "5f1e6a3c-0000-4000-8000-000000000001"
PRIVATE_KEY = "hostile-private-key-9c2d"
DRIP_EVERY = 0.2  # seconds between dripped bytes
NOW = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)

Answer = Callable[["Handler"], None]


class HostileServer(ThreadingHTTPServer):
    """Answers each request with `answer(handler)`; companyinfo answers at once unless told."""

    daemon_threads = True

    def __init__(self, answer: Answer) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.answer = answer
        self.companyinfo: Answer | None = None
        self.paths: list[str] = []
        self.bytes_sent = 0
        self.closing = threading.Event()
        self.lock = threading.Lock()

    @property
    def site(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    def api_requests(self) -> list[str]:
        with self.lock:
            return [p for p in self.paths if "/apis/3.0/" in p]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked answers, like ConnectWise

    def _any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        with self.server.lock:
            self.server.paths.append(self.path)
        if self.path.startswith("/login/companyinfo/"):
            (self.server.companyinfo or answer_json({"Codebase": CODEBASE}))(self)
            return
        self.server.answer(self)

    do_GET = do_POST = do_PATCH = _any

    def write(self, data: bytes) -> bool:
        """Send bytes; False once the client has gone (or the test is over)."""
        if self.server.closing.is_set():
            return False
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            return False
        with self.server.lock:
            self.server.bytes_sent += len(data)
        return True

    def query(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}

    def log_message(self, *args) -> None:
        pass


def answer_json(body, status: int = 200, headers: dict[str, str] | None = None) -> Answer:
    """A plain, prompt JSON answer."""

    def answer(handler: Handler) -> None:
        payload = json.dumps(body).encode()
        handler.send_response(status)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.write(payload)

    return answer


def drip_body(handler: Handler) -> None:
    """Headers at once, then a body of one byte every DRIP_EVERY seconds that never ends."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", "100000")
    handler.end_headers()
    handler.write(b'{"version": "')
    while handler.write(b"x"):
        time.sleep(DRIP_EVERY)
    handler.close_connection = True


def drip_headers(handler: Handler) -> None:
    """A status line, then header bytes one every DRIP_EVERY seconds, never a blank line."""
    handler.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
    while handler.write(b"y"):
        time.sleep(DRIP_EVERY)
    handler.close_connection = True


def endless_pages(rows: Callable[[Handler], list] = lambda handler: []) -> Answer:
    """Every page links to a next page with a URL never seen before."""

    def answer(handler: Handler) -> None:
        page = int(handler.query().get("page", "1"))
        path = urlsplit(handler.path).path
        link = f'<{handler.server.site}{path}?page={page + 1}&pageSize=1000&n={page}>; rel="next"'
        answer_json(rows(handler), headers={"Link": link})(handler)

    return answer


def endless_chunked_json(handler: Handler) -> None:
    """A chunked JSON answer that never ends: `{"version": "aaaa...` 64 KiB at a time."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    chunks = [b'{"version": "'] + [b"a" * 65536] * 10_000  # 655 MB if anyone read it all
    for chunk in chunks:
        if not handler.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"):
            break
    handler.close_connection = True


@pytest.fixture
def hostile():
    """Start hostile servers: `hostile(answer)` -> a running HostileServer."""
    servers: list[HostileServer] = []

    def start(answer: Answer) -> HostileServer:
        server = HostileServer(answer)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.closing.set()
        server.shutdown()
        server.server_close()


def client_for_site(site: str, *, timeout: float = 1.0, **limits) -> ConnectWiseClient:
    """A client for a hostile site, codebase pinned, with the given limits."""
    credentials = Credentials(site, "acme", "pub-key", PRIVATE_KEY, CLIENT_ID)
    return ConnectWiseClient(
        credentials,
        timeout=timeout,
        allow_private_hosts=True,
        codebase=CODEBASE,
        backoff_factor=0.1,
        limits=Limits(**limits),
    )


def add_partner(factory, settings, name: str, site: str, *, companies: int = 1) -> int:
    """A connected, enabled partner with one mapped product and `companies` mapped companies."""
    with factory.begin() as session:
        partner = partners.create_partner(session, name, now=NOW)
        partners.set_integration(partner, True)
        form = partner_connection.ConnectionForm(site, "acme", "pub-key", PRIVATE_KEY, CLIENT_ID)
        partner_connection.save_connection(session, settings, partner, form, now=NOW)
        code = f"{name}-seats"
        product = catalog.add_product(session, code, f"{name} seats")
        item = CatalogItem(77, "SEATS", "Seats per user", False)
        catalog.map_product(session, partner.id, product, item, now=NOW)
        for i in range(companies):
            company = Company(partner_id=partner.id, external_id=f"c{i}", name=f"Customer {i}")
            session.add(company)
            session.flush()
            agreement = Agreement(
                100 + i, f"MSA {i}", 10 + i, f"Customer {i}", "Active", False, None, True, None
            )
            mappings.save_mapping(session, company, 10 + i, agreement, matched_by="manual", now=NOW)
            session.add(
                Seat(
                    partner_id=partner.id,
                    company_id=company.id,
                    product_id=product.id,
                    user_external_id="u1",
                    user_email="u1@example.com",
                    active_from=datetime(2026, 8, 1, tzinfo=UTC),
                    active_to=None,
                    updated_at=NOW,
                )
            )
        return partner.id


def agreement_row(agreement_id: int, company_id: int, name: str | None = None) -> dict:
    """An active agreement as ConnectWise lists it."""
    return {
        "id": agreement_id,
        "name": name or f"MSA {agreement_id}",
        "company": {"id": company_id, "name": f"Customer {company_id}"},
        "agreementStatus": "Active",
        "cancelledFlag": False,
        "noEndingDateFlag": True,
    }

"""Retries through real urllib3 against a scripted local server: Retry-After, drops, timeouts."""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import urllib3.util.retry

from billing_sync.connectwise import errors
from billing_sync.connectwise.client import ConnectWiseClient, Credentials

ADDITION = {"id": 501, "product": {"id": 77}, "quantity": 4.0, "billCustomer": "Billable"}
JAN_1 = datetime(2026, 1, 1, tzinfo=UTC)
TIMEOUT = 0.5
LONG = 300.0  # a deadline no recorded (not slept) wait comes near


class ScriptedServer(ThreadingHTTPServer):
    """Answers requests from a script of (status, headers, body) or "drop"/"hang" steps."""

    daemon_threads = True

    def __init__(self, script):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script = list(script)
        self.received: list[tuple[str, str]] = []


class _Handler(BaseHTTPRequestHandler):
    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.server.received.append((self.command, self.path))
        step = self.server.script.pop(0) if self.server.script else (200, {}, [])
        if step == "drop":
            self.close_connection = True  # no status line at all: the client sees a dropped link
            return
        if step == "hang":
            # Not time.sleep: the tests replace it (it is global) to record urllib3's waits.
            threading.Event().wait(TIMEOUT * 3)
            self.close_connection = True
            return
        status, headers, body = step
        payload = json.dumps(body).encode()
        self.send_response(status)
        for name, value in {**headers, "Content-Type": "application/json"}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def serve():
    servers = []

    def start(*script, timeout: float = TIMEOUT) -> tuple[ScriptedServer, ConnectWiseClient]:
        server = ScriptedServer(script)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        credentials = Credentials(
            f"http://127.0.0.1:{server.server_port}", "acme", "pub", "private", "client-guid"
        )
        client = ConnectWiseClient(
            credentials,
            allow_private_hosts=True,
            codebase="v4_6_release",
            timeout=timeout,
            max_retries=3,
            backoff_factor=0.25,
        )
        return server, client

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def sleeps(monkeypatch):
    """urllib3's sleeps between retries, recorded instead of slept (patches time.sleep)."""
    slept: list[float] = []
    monkeypatch.setattr(urllib3.util.retry.time, "sleep", slept.append)
    return slept


def test_429_is_retried_after_the_seconds_retry_after_asks(serve, sleeps):
    server, client = serve(
        (429, {"Retry-After": "7"}, {}),
        (429, {"Retry-After": "2"}, {}),
        (200, {}, [ADDITION]),
        timeout=LONG,
    )
    assert [a.id for a in client.agreement_additions(9, active_at=JAN_1)] == [501]
    assert sleeps == [7, 2]
    assert len(server.received) == 3


def test_a_huge_retry_after_is_capped(serve, sleeps):
    serve_result = serve(
        (429, {"Retry-After": "86400"}, {}), (200, {}, {"version": "v1"}), timeout=LONG
    )
    assert serve_result[1].system_info().version == "v1"
    assert sleeps == [120]


def test_a_retry_after_past_the_deadline_ends_the_call_at_once(serve, sleeps):
    server, client = serve(
        (429, {"Retry-After": "60"}, {}), (200, {}, {"version": "v1"}), timeout=30
    )
    with pytest.raises(errors.RateLimited):
        client.system_info()
    assert sleeps == []
    assert len(server.received) == 1


def test_503_without_retry_after_backs_off_exponentially_then_gives_up(serve, sleeps):
    server, client = serve(*[(503, {}, {"message": "down"})] * 4, timeout=LONG)
    with pytest.raises(errors.ServerError):
        client.catalog_item(77)
    assert [m for m, _ in server.received] == ["GET"] * 4
    assert sleeps == [0.5, 1.0]  # urllib3: no wait before the first retry, then factor * 2**n


def test_post_503_is_not_retried(serve, sleeps):
    server, client = serve((503, {"Retry-After": "1"}, {}), (201, {}, ADDITION))
    with pytest.raises(errors.ServerError):
        client.create_addition(9, product_id=77, quantity=4, effective_date=JAN_1, description="x")
    assert server.received == [("POST", "/v4_6_release/apis/3.0/finance/agreements/9/additions")]
    assert sleeps == []


def test_a_dropped_post_is_sent_once_and_its_outcome_unknown(serve, sleeps):
    server, client = serve("drop", (201, {}, ADDITION))
    with pytest.raises(errors.WriteOutcomeUnknown):
        client.create_addition(9, product_id=77, quantity=4, effective_date=JAN_1, description="x")
    assert [m for m, _ in server.received] == ["POST"]


def test_a_timed_out_post_is_sent_once_and_its_outcome_unknown(serve, sleeps):
    server, client = serve("hang", (201, {}, ADDITION))
    with pytest.raises(errors.WriteOutcomeUnknown):
        client.create_addition(9, product_id=77, quantity=4, effective_date=JAN_1, description="x")
    assert [m for m, _ in server.received] == ["POST"]


def test_a_dropped_get_is_retried(serve, sleeps):
    server, client = serve("drop", "drop", (200, {}, {"version": "v1"}), timeout=LONG)
    assert client.system_info().version == "v1"
    assert len(server.received) == 3


def test_a_timed_out_get_is_not_retried_past_its_deadline(serve, sleeps):
    server, client = serve("hang", "hang", "hang", "hang")
    started = time.monotonic()
    with pytest.raises(errors.DeadlineExceeded, match="timed out"):
        client.system_info()
    assert time.monotonic() - started < TIMEOUT + 0.3
    assert len(server.received) == 1


def test_a_refused_post_never_left_so_it_is_connection_failed(sleeps):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once the block ends: nobody listens there
    credentials = Credentials(f"http://127.0.0.1:{port}", "acme", "pub", "private", "guid")
    with ConnectWiseClient(
        credentials, allow_private_hosts=True, codebase="v1", timeout=LONG, max_retries=3
    ) as client:
        with pytest.raises(errors.ConnectionFailed, match="could not connect"):
            client.create_addition(
                9, product_id=77, quantity=4, effective_date=JAN_1, description="x"
            )
        assert sleeps == []  # POST: no connect retries either
        with pytest.raises(errors.ConnectionFailed):
            client.system_info()
        assert len(sleeps) == 2  # GET: three connect retries (the first without a wait)

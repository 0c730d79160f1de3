"""Every ConnectWise call ends by its total deadline, however slowly the server drips."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from billing_sync.connectwise import errors
from billing_sync.connectwise.client import ConnectWiseClient, Credentials, Limits
from billing_sync.models import Connection
from billing_sync.partner_connection import authenticate
from billing_sync.text import TRUNCATED
from tests.conftest import TEST_SECRET
from tests.security.hostile import (
    CLIENT_ID,
    PRIVATE_KEY,
    add_partner,
    answer_json,
    client_for_site,
    drip_body,
    drip_headers,
)

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 1.0
SLACK = 0.5  # thread wake-ups and connection teardown, generous for a loaded machine
JAN_1 = datetime(2026, 1, 1, tzinfo=UTC)


def timed(call):
    """(exception raised, seconds taken) of a call expected to fail."""
    started = time.monotonic()
    with pytest.raises(errors.ConnectWiseError) as caught:
        call()
    return caught.value, time.monotonic() - started


@pytest.mark.parametrize("drip", [drip_body, drip_headers], ids=["body", "headers"])
def test_a_dripping_get_ends_at_its_deadline(hostile, drip):
    server = hostile(drip)
    with client_for_site(server.site, timeout=DEADLINE) as client:
        error, took = timed(client.system_info)

    assert isinstance(error, errors.DeadlineExceeded)
    assert isinstance(error, errors.TransientError)
    assert "no complete answer within 1 s" in str(error)
    assert DEADLINE - 0.05 <= took < DEADLINE + SLACK
    assert len(server.api_requests()) == 1  # no retry past the deadline


def test_a_dripping_post_ends_at_its_deadline_with_its_outcome_unknown(hostile):
    server = hostile(drip_body)
    with client_for_site(server.site, timeout=DEADLINE) as client:
        error, took = timed(
            lambda: client.create_addition(
                9, product_id=77, quantity=4, effective_date=JAN_1, description="x"
            )
        )

    assert isinstance(error, errors.WriteOutcomeUnknown)  # bytes left: it may have landed
    assert took < DEADLINE + SLACK
    assert [p for p in server.api_requests()] == [
        "/v4_6_release/apis/3.0/finance/agreements/9/additions"
    ]


def test_retries_of_a_get_stay_inside_its_deadline(hostile):
    server = hostile(answer_json({"message": "busy"}, 503, {"Retry-After": "0"}))
    credentials = Credentials(server.site, "acme", "pub-key", PRIVATE_KEY, CLIENT_ID)
    with ConnectWiseClient(
        credentials,
        timeout=DEADLINE,
        max_retries=10,
        backoff_factor=0.2,  # 0, 0.4, 0.8, ... : the third wait no longer fits
        allow_private_hosts=True,
        codebase="v4_6_release",
    ) as client:
        error, took = timed(client.system_info)

    assert isinstance(error, errors.ServerError)
    assert took < DEADLINE + SLACK
    assert 2 <= len(server.api_requests()) < 11


def test_a_page_deadline_bounds_every_call_of_a_client_together(hostile):
    server = hostile(drip_body)
    server.companyinfo = drip_body  # codebase discovery drips too
    credentials = Credentials(server.site, "acme", "pub-key", PRIVATE_KEY, CLIENT_ID)
    limits = Limits(deadline=time.monotonic() + DEADLINE)
    with ConnectWiseClient(
        credentials, timeout=30, allow_private_hosts=True, limits=limits
    ) as client:
        error, took = timed(client.system_info)
        again, at_once = timed(client.system_info)

    assert isinstance(error, errors.DeadlineExceeded)
    assert took < DEADLINE + SLACK
    assert "not sent" in str(again) and at_once < 0.1


def test_authenticate_is_one_deadline_and_stores_a_short_message(
    hostile, settings, session_factory
):
    server = hostile(drip_body)
    server.companyinfo = drip_body
    partner_id = add_partner(session_factory, settings, "slowpoke", server.site)

    with session_factory() as session:
        error, took = timed(
            lambda: authenticate(session, settings, partner_id, now=JAN_1, within=DEADLINE)
        )
        session.commit()
        connection = session.scalar(select(Connection).where(Connection.partner_id == partner_id))

        assert isinstance(error, errors.DeadlineExceeded)
        assert took < DEADLINE + SLACK
        assert connection.last_check_ok is False and connection.cw_version is None
        assert "within 1 s" in connection.last_check_message


def cli(env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "billing_sync.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    return result, time.monotonic() - started


def cli_env(settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLING_SYNC_")}
    env.update(
        PYTHONPATH=str(ROOT),
        BILLING_SYNC_DATABASE_URL=settings.database_url,
        BILLING_SYNC_SECRET_KEY=TEST_SECRET,
        BILLING_SYNC_ALLOW_PRIVATE_HOSTS="1",
        **extra,
    )
    return env


def test_connection_test_ends_at_the_deadline_against_a_dripping_server(
    hostile, settings, session_factory
):
    prompt = hostile(answer_json({"version": "v2025.8"}))
    dripping = hostile(drip_body)
    add_partner(session_factory, settings, "prompt", prompt.site)
    add_partner(session_factory, settings, "dripping", dripping.site)
    env = cli_env(settings, BILLING_SYNC_CW_TIMEOUT="2")

    fine, baseline = cli(env, "connection", "test", "prompt")
    slow, took = cli(env, "connection", "test", "dripping")

    assert fine.returncode == 0, fine.stderr
    assert slow.returncode == 1
    assert "no complete answer within 2 s" in slow.stderr
    assert "Traceback" not in slow.stderr
    assert took < baseline + 2 + SLACK, (took, baseline)
    print(f"connection test: {took:.2f} s against the drip, {baseline:.2f} s against a prompt site")


def test_stored_error_text_is_clipped_with_a_mark(hostile, settings, session_factory):
    huge = {"message": "no " * 100_000, "errors": [{"field": "f", "message": "m" * 10**5}] * 50}
    server = hostile(answer_json(huge, 403))
    partner_id = add_partner(session_factory, settings, "wordy", server.site)

    with session_factory() as session:
        with pytest.raises(errors.PermissionDenied) as caught:
            authenticate(session, settings, partner_id, now=JAN_1)
        session.commit()
        connection = session.scalar(select(Connection).where(Connection.partner_id == partner_id))

    assert len(str(caught.value)) <= errors.MESSAGE_CHARS
    assert str(caught.value).endswith(TRUNCATED)
    assert len(connection.last_check_message) <= 2000


def test_a_dripped_tls_handshake_ends_at_the_deadline():
    listener = socket.create_server(("127.0.0.1", 0))
    closing = threading.Event()

    def drip_handshake():
        conn, _ = listener.accept()
        with conn:
            conn.recv(4096)  # the ClientHello
            conn.sendall(b"\x16\x03\x03\x40\x00")  # a handshake record promising 16 KiB...
            while not closing.is_set():  # ...sent a byte at a time
                try:
                    conn.sendall(b"\x02")
                except OSError:
                    return
                time.sleep(0.2)

    threading.Thread(target=drip_handshake, daemon=True).start()
    site = f"https://127.0.0.1:{listener.getsockname()[1]}"
    try:
        with client_for_site(site, timeout=DEADLINE) as client:
            error, took = timed(client.system_info)
    finally:
        closing.set()
        listener.close()

    assert isinstance(error, errors.DeadlineExceeded)
    assert took < DEADLINE + SLACK

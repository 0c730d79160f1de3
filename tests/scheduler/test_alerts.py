"""Alert delivery to loopback SMTP and webhook receivers; failures are logged, never raised."""

from __future__ import annotations

import logging
import socket
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from billing_sync.scheduler.alerts import Alert, deliver, validate_webhook_url
from billing_sync.settings import Settings

ALERT = Alert(
    partner="msp",
    kind="run_failed",
    subject="sync run 7 for msp failed",
    message="ConnectWise answered 500 three times",
    run_id=7,
    at=datetime(2026, 4, 1, 0, 15, tzinfo=UTC),
)


@pytest.fixture
def mail_settings(smtp_receiver) -> Settings:
    return Settings(
        database_url="sqlite://",
        allow_private_hosts=True,
        smtp_host="127.0.0.1",
        smtp_port=smtp_receiver.port,
        smtp_from="billing@vendor.example",
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_email_and_webhook_are_both_delivered(mail_settings, smtp_receiver, webhook_receiver):
    failed = deliver(mail_settings, "ops@msp.example, cfo@msp.example", webhook_receiver.url, ALERT)
    assert failed == []
    [mail] = smtp_receiver.messages
    assert mail["rcpt"] == ["ops@msp.example", "cfo@msp.example"]
    assert "Subject: [billing-sync] sync run 7 for msp failed" in mail["data"]
    assert "ConnectWise answered 500 three times" in mail["data"]
    [hook] = webhook_receiver.received
    assert hook["path"] == "/hooks/billing"
    assert hook["headers"]["Content-Type"] == "application/json"
    assert hook["json"] == {
        "partner": "msp",
        "kind": "run_failed",
        "subject": "sync run 7 for msp failed",
        "message": "ConnectWise answered 500 three times",
        "at": "2026-04-01T00:15:00+00:00",
        "run_id": 7,
    }


def test_unreachable_smtp_and_failing_webhook_are_logged_not_raised(
    mail_settings, webhook_receiver, caplog
):
    webhook_receiver.server.status = 500
    settings = replace(mail_settings, smtp_port=free_port())
    with caplog.at_level(logging.WARNING):
        failed = deliver(settings, "ops@msp.example", webhook_receiver.url + "?token=s3cret", ALERT)
    assert failed == ["email", "webhook"]
    assert "e-mail alert for partner msp (run 7) not delivered" in caplog.text
    assert "to 127.0.0.1 not delivered: HTTP 500" in caplog.text
    assert "s3cret" not in caplog.text  # webhook URLs often carry a token
    assert len(webhook_receiver.received) == 1  # one attempt, no retry storm


def test_no_smtp_host_is_a_logged_failure(caplog):
    settings = Settings(database_url="sqlite://")
    with caplog.at_level(logging.WARNING):
        assert deliver(settings, "ops@msp.example", None, ALERT) == ["email"]
    assert "no SMTP host configured" in caplog.text


def test_a_private_webhook_is_refused_at_delivery_unless_allowed(webhook_receiver, caplog):
    settings = Settings(database_url="sqlite://", allow_private_hosts=False)
    with caplog.at_level(logging.WARNING):
        assert deliver(settings, None, webhook_receiver.url, ALERT) == ["webhook"]
    assert webhook_receiver.received == []


@pytest.mark.parametrize("url", ["https://93.184.216.34/hook", "http://8.8.8.8:8080/x?y=1"])
def test_public_webhook_addresses_are_accepted(url):
    assert validate_webhook_url(url, allow_private_hosts=False) == url


@pytest.mark.parametrize(
    "url",
    [
        "http://192.168.1.10/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://localhost:8080/",
        "http://[fe80::1]/",
    ],
)
def test_private_webhook_addresses_are_refused(url):
    with pytest.raises(ValueError, match="private or loopback"):
        validate_webhook_url(url, allow_private_hosts=False)
    assert validate_webhook_url(url, allow_private_hosts=True) == url

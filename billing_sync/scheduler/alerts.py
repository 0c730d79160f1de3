"""Alerts on failed runs and broken credentials: e-mail (smtplib) and webhook (JSON POST).

Delivery is best effort: one attempt per channel with a timeout, failures logged, never raised.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import smtplib
import socket
from dataclasses import asdict, dataclass
from datetime import datetime
from email.message import EmailMessage
from urllib.parse import urlsplit

import requests

from billing_sync.errors import InvalidInput
from billing_sync.settings import Settings
from billing_sync.validation import clipped, has_control, shown

log = logging.getLogger(__name__)

DELIVERY_TIMEOUT = 10.0
_EMAIL = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$")


@dataclass(frozen=True)
class Alert:
    """Something a partner admin must hear about."""

    partner: str
    kind: str  # run_failed | run_partial | credentials_failed
    subject: str
    message: str
    at: datetime
    run_id: int | None = None

    def payload(self) -> dict:
        """The webhook JSON body."""
        return {**asdict(self), "at": self.at.isoformat()}


def parse_recipients(text: str) -> list[str]:
    """Split a comma/semicolon/space separated address list, rejecting anything malformed."""
    if len(text) > 1000:
        raise InvalidInput("the e-mail recipient list is longer than 1000 characters")
    recipients = [part for part in re.split(r"[,;\s]+", text.strip()) if part]
    bad = [part for part in recipients if not _EMAIL.match(part) or has_control(part)]
    if bad:
        raise InvalidInput(f"not an e-mail address: {', '.join(clipped(part) for part in bad)}")
    return recipients


def _is_public(address: str) -> bool:
    return ipaddress.ip_address(address.split("%")[0]).is_global


def validate_webhook_url(url: str, allow_private_hosts: bool) -> str:
    """Return the URL if it is http(s) to a public host (or private hosts are allowed)."""
    if len(url) > 1000:
        raise ValueError("webhook URL is longer than 1000 characters")
    if has_control(url):
        raise ValueError("webhook URL contains a control character")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"webhook URL {shown(url)} must be an http:// or https:// URL with a host")
    if allow_private_hosts:
        return url.strip()
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise ValueError(f"webhook host {parts.hostname!r} does not resolve") from exc
    # Every address must be public: an alert must not become a probe of the internal network.
    if not all(_is_public(info[4][0]) for info in infos):
        raise ValueError(
            f"webhook host {parts.hostname!r} is a private or loopback address; "
            "set BILLING_SYNC_ALLOW_PRIVATE_HOSTS=1 to allow it"
        )
    return url.strip()


def send_email(settings: Settings, recipients: list[str], alert: Alert) -> None:
    """Send the alert by SMTP; raises on failure (deliver() logs it)."""
    if not settings.smtp_host:
        raise RuntimeError("no SMTP host configured (BILLING_SYNC_SMTP_HOST)")
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = ", ".join(recipients)
    message["Subject"] = f"[billing-sync] {alert.subject}"
    message.set_content(
        f"{alert.message}\n\nPartner: {alert.partner}\nRun: {alert.run_id or '-'}"
        f"\nAt: {alert.at.isoformat()}\n"
    )
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=DELIVERY_TIMEOUT) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password or "")
        smtp.send_message(message)


def post_webhook(settings: Settings, url: str, alert: Alert) -> None:
    """POST the alert as JSON once; raises on failure (deliver() logs it)."""
    validate_webhook_url(url, settings.allow_private_hosts)  # DNS may have changed since saving
    response = requests.post(
        url, json=alert.payload(), timeout=DELIVERY_TIMEOUT, allow_redirects=False
    )
    response.raise_for_status()


def _reason(exc: Exception) -> str:
    # Webhook URLs often carry a token: name the failure, never echo the URL.
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, requests.RequestException):
        return type(exc).__name__
    return f"{type(exc).__name__}: {exc}"


def deliver(
    settings: Settings, email_to: str | None, webhook_url: str | None, alert: Alert
) -> list[str]:
    """Send the alert on every configured channel; returns the channels that failed."""
    failed = []
    if email_to:
        try:
            send_email(settings, parse_recipients(email_to), alert)
        except Exception as exc:  # noqa: BLE001 - delivery is best effort by design
            log.warning(
                "e-mail alert for partner %s (run %s) not delivered: %s",
                alert.partner,
                alert.run_id,
                _reason(exc),
            )
            failed.append("email")
    if webhook_url:
        try:
            post_webhook(settings, webhook_url, alert)
        except Exception as exc:  # noqa: BLE001 - delivery is best effort by design
            log.warning(
                "webhook alert for partner %s (run %s) to %s not delivered: %s",
                alert.partner,
                alert.run_id,
                urlsplit(webhook_url).hostname,
                _reason(exc),
            )
            failed.append("webhook")
    return failed

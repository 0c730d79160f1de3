"""ConnectWise errors, grouped by what the caller should do: fix configuration or try later."""

from __future__ import annotations

from typing import Any

from billing_sync.text import clip

MESSAGE_CHARS = 1000  # a ConnectWise error message, whatever ConnectWise sent


class ConnectWiseError(Exception):
    """Base: message for logs and the ledger, advice for the person who must act."""

    advice = "See the run ledger and the ConnectWise API log for details."

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        advice: str | None = None,
        response: Any = None,
    ):
        super().__init__(clip(message, MESSAGE_CHARS))
        self.status = status
        self.response = response
        if advice is not None:
            self.advice = advice


class ConfigurationError(ConnectWiseError):
    """Something a partner admin must fix; retrying will not help."""


class AuthenticationError(ConfigurationError):
    """Credentials, company id, client id or site are wrong."""

    advice = (
        "Check the ConnectWise site, company id, public/private key pair and client id; "
        "on ConnectWise cloud a wrong company id or key pair also answers 404."
    )


class PermissionDenied(ConfigurationError):
    """The API member's security role lacks a permission."""

    advice = (
        "Give the API member's security role the needed permission in ConnectWise "
        "(Finance > Agreements: inquire and edit; Procurement > Product Catalog: inquire; "
        "Companies > Company Maintenance: inquire)."
    )


class NotFound(ConfigurationError):
    """A record we rely on (agreement, addition, product) does not exist."""

    advice = "The record no longer exists in ConnectWise: re-map the company or product."


class ValidationFailed(ConfigurationError):
    """ConnectWise refused a request as invalid (400); `field_errors` has the reasons."""

    advice = "ConnectWise rejected the change; check the mapped product and agreement settings."

    def __init__(self, message: str, *, field_errors: tuple[str, ...] = (), **kwargs: Any):
        super().__init__(message, **kwargs)
        self.field_errors = field_errors


class InvalidSite(ConfigurationError):
    """The site cannot be used (bad URL, unknown company, private address not allowed)."""

    advice = "Check the ConnectWise site (e.g. na.myconnectwise.net) and company id."


class ResponseTooLarge(ConfigurationError):
    """An answer was larger than BILLING_SYNC_CW_MAX_BODY_MB; reading stopped there."""

    advice = (
        "ConnectWise sent far more than any answer billing-sync asks for: check that the site is "
        "the ConnectWise API, or raise BILLING_SYNC_CW_MAX_BODY_MB if the answer is genuine."
    )


class TooManyPages(ConfigurationError):
    """A listing went on past BILLING_SYNC_CW_MAX_PAGES pages; reading stopped there."""

    advice = (
        "ConnectWise kept offering another page: check that the site is the ConnectWise API, or "
        "raise BILLING_SYNC_CW_MAX_PAGES if this ConnectWise really holds that many records."
    )


class TransientError(ConnectWiseError):
    """ConnectWise is busy, down or slow; the next run will try again."""

    advice = "ConnectWise did not answer in time or was busy; the next run retries automatically."


class RateLimited(TransientError):
    """429 after every allowed retry."""


class ServerError(TransientError):
    """5xx after every allowed retry."""


class ConnectionFailed(TransientError):
    """Network error or timeout after every allowed retry."""


class CertificateRefused(ConnectionFailed):
    """TLS failed: the site's certificate is not trusted or not issued for its host name."""

    advice = (
        "The site's HTTPS certificate was refused, so no credentials were sent: check that the "
        "site is spelled as on its certificate (e.g. na.myconnectwise.net, not an IP address or "
        "an alias), and for an on-premise server that its certificate is valid, not expired, and "
        "issued by an authority this server trusts. Retrying will not help."
    )


class DeadlineExceeded(ConnectionFailed):
    """No complete answer within the call's total deadline (connect, retries and the whole body)."""

    advice = (
        "ConnectWise was too slow: it did not answer in full within the time allowed "
        "(BILLING_SYNC_CW_TIMEOUT per call); the next run tries again."
    )


class Interrupted(TransientError):
    """A listing stopped between pages because the caller asked it to (a run stopping)."""

    advice = "The run was stopping (asked to, or at its deadline); the next run completes it."


class WriteOutcomeUnknown(TransientError):
    """A POST was sent but no answer came back: it may or may not have been applied."""

    advice = "The create may have reached ConnectWise; billing-sync re-reads before creating again."

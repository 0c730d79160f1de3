"""ConnectWise errors, grouped by what the caller should do: fix configuration or try later."""

from __future__ import annotations

from typing import Any


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
        super().__init__(message)
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


class TransientError(ConnectWiseError):
    """ConnectWise is busy, down or slow; the next run will try again."""

    advice = "ConnectWise did not answer in time or was busy; the next run retries automatically."


class RateLimited(TransientError):
    """429 after every allowed retry."""


class ServerError(TransientError):
    """5xx after every allowed retry."""


class ConnectionFailed(TransientError):
    """Network error or timeout after every allowed retry."""


class WriteOutcomeUnknown(TransientError):
    """A POST was sent but no answer came back: it may or may not have been applied."""

    advice = "The create may have reached ConnectWise; billing-sync re-reads before creating again."

"""Domain errors a CLI command or a page turns into a one-line message."""


class BillingSyncError(Exception):
    """Base for errors whose message is fit to show a partner admin as is."""


class InvalidInput(BillingSyncError, ValueError):
    """The input is wrong; nothing was changed."""


class NotFoundError(BillingSyncError, LookupError):
    """The partner, company, product or run asked for does not exist (for this partner)."""


class RunInProgress(BillingSyncError):
    """Another run of this partner's sync holds the lease."""


class Conflict(BillingSyncError):
    """The request cannot be carried out in the current state; nothing was changed."""

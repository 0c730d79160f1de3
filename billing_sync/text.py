"""Length limits for text billing-sync keeps or shows, and the one function that enforces them."""

from __future__ import annotations

TRUNCATED = "… (truncated)"
ERROR_CHARS = 2000  # an error or advice kept on a connection, a run or a ledger row


def clip(text: str, limit: int = ERROR_CHARS) -> str:
    """`text` if it fits in `limit` characters, else its start marked "… (truncated)"."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(TRUNCATED))] + TRUNCATED


def clip_optional(text: str | None, limit: int = ERROR_CHARS) -> str | None:
    """`clip` that lets None through."""
    return None if text is None else clip(text, limit)

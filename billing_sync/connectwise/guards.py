"""What the ConnectWise client refuses to send or to take from an answer."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TypeVar

log = logging.getLogger(__name__)
Record = TypeVar("Record")


def only_asked(
    records: Iterable[Record], key: Callable[[Record], object], asked: set, what: str
) -> list[Record]:
    """The records whose `key` is among those asked for: ConnectWise's filter is not trusted."""
    records = list(records)
    kept = [record for record in records if key(record) in asked]
    if len(kept) != len(records):
        dropped = len(records) - len(kept)
        log.warning("ConnectWise listed %d %s that were not asked for; ignored", dropped, what)
    return kept


def checked_id(value: int) -> int:
    """A positive integer id (ids end up in URL paths, so nothing else gets through)."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"a ConnectWise id must be a positive integer, got {value!r}")
    return value


def checked_quantity(value: int | float) -> int:
    """Quantities go out as non-negative integers (CW stores doubles; counts are whole)."""
    if isinstance(value, bool) or int(value) != value or value < 0:
        raise ValueError(f"quantity must be a non-negative whole number, got {value!r}")
    return int(value)

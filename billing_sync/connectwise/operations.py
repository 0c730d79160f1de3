"""What the engine needs from ConnectWise, as a Protocol: the real client and test fakes fit it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from billing_sync.connectwise.records import Addition, Agreement


class AgreementBilling(Protocol):
    """The agreement and addition calls a sync run makes (the engine depends on nothing else)."""

    def agreements_by_ids(self, ids: Iterable[int]) -> dict[int, Agreement]:
        """The agreements with these ids; missing ones are absent."""
        ...

    def agreement_additions(self, agreement_id: int, *, active_at: datetime) -> list[Addition]:
        """The agreement's additions not cancelled at `active_at`."""
        ...

    def create_addition(
        self,
        agreement_id: int,
        *,
        product_id: int,
        quantity: int,
        effective_date: datetime,
        description: str,
        marker: str | None = None,
    ) -> Addition:
        """POST a new addition (sent once; never retried)."""
        ...

    def set_addition_quantity(self, agreement_id: int, addition_id: int, quantity: int) -> Addition:
        """PATCH an addition's quantity to an absolute value."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...

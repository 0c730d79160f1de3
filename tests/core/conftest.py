"""Core fixtures: a partner, the global products, and a seat factory over the real database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from billing_sync.models import Company, Partner, Product, Seat

CREATED = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def partner(session) -> Partner:
    partner = Partner(name="acme-msp", timezone="UTC", created_at=CREATED)
    session.add(partner)
    session.commit()
    return partner


@pytest.fixture
def products(session) -> dict[str, Product]:
    """pb-business and pb-personal, as the global Product rows."""
    rows = [
        Product(code="pb-business", name="Password Boss Business"),
        Product(code="pb-personal", name="Password Boss Personal"),
    ]
    session.add_all(rows)
    session.commit()
    return {product.code: product for product in rows}


@pytest.fixture
def company(session, partner) -> Callable[..., Company]:
    """Create (or return) the partner's company with an external id."""
    made: dict[str, Company] = {}

    def make(external_id: str, name: str | None = None) -> Company:
        if external_id not in made:
            made[external_id] = Company(
                partner_id=partner.id, external_id=external_id, name=name or f"Co {external_id}"
            )
            session.add(made[external_id])
            session.flush()
        return made[external_id]

    return make


@pytest.fixture
def add_seat(session, partner, products, company) -> Callable[..., Seat]:
    """Add one seat interval: add_seat("1001", "pb-business", "u1", from_, to)."""

    def add(
        external_id: str,
        product: str,
        user: str,
        active_from: datetime,
        active_to: datetime | None = None,
    ) -> Seat:
        seat = Seat(
            partner_id=partner.id,
            company_id=company(external_id).id,
            product_id=products[product].id,
            user_external_id=user,
            active_from=active_from,
            active_to=active_to,
            updated_at=CREATED,
        )
        session.add(seat)
        session.flush()
        return seat

    return add

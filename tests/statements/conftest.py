"""Statement tests run on the sync tests' seeded world: a simulator and a mapped partner."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from billing_sync.models import Partner, Seat
from tests.sync.conftest import NO_HOLDS, World, build_world, cw, cw_state  # noqa: F401

LA = "America/Los_Angeles"  # October ends at 2026-11-01 07:00 UTC


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def seat(world: World, external, code, user, start, end=None, email=None):
    return Seat(
        partner_id=world.partner_id,
        company_id=world.companies[external],
        product_id=world.products[code],
        user_external_id=user,
        user_email=email or f"{user}@example.com",
        active_from=start,
        active_to=end,
        updated_at=start,
    )


@pytest.fixture
def la_world(session_factory, settings, cw, cw_state):  # noqa: F811
    """Four mapped companies billed in Los Angeles, with the cases a boundary gets wrong."""
    world = build_world(session_factory, settings, cw, cw_state, rules=NO_HOLDS)
    with session_factory.begin() as session:
        session.get(Partner, world.partner_id).timezone = LA
        session.add_all(
            [
                # Left on 10 October, back on 20 October: counted once, since the return.
                seat(world, "ext-001", "pb-business", "ivan", utc(2026, 8, 1), utc(2026, 10, 10),
                     email="иван@пример.рф"),
                seat(world, "ext-001", "pb-business", "ivan", utc(2026, 10, 20),
                     email="иван@пример.рф"),
                # Two back-to-back rows are one unbroken seat: since its first start.
                seat(world, "ext-001", "pb-premium", "anna", utc(2026, 6, 1), utc(2026, 9, 1)),
                seat(world, "ext-001", "pb-premium", "anna", utc(2026, 9, 1)),
                # Starts at 03:00 UTC on 1 November: still 31 October in Los Angeles.
                seat(world, "ext-002", "pb-business", "late", utc(2026, 11, 1, 3)),
                # Ends at 03:00 UTC on 1 November: left before the LA month end.
                seat(world, "ext-002", "pb-business", "gone", utc(2026, 8, 1), utc(2026, 11, 1, 3)),
                # Ends exactly at the boundary: still counted (active_from < B <= active_to).
                seat(world, "ext-003", "pb-business", "edge", utc(2026, 8, 1), utc(2026, 11, 1, 7)),
                # Started and ended within October: listed as left, never counted.
                seat(world, "ext-003", "pb-premium", "temp", utc(2026, 10, 5), utc(2026, 10, 9)),
            ]
        )  # fmt: skip
    return world

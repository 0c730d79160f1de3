"""Driving guardrail scenarios: live counts set by hand, runs, and what they left behind."""

from __future__ import annotations

from sqlalchemy import delete, select

from billing_sync.guard_rules import save_rules
from billing_sync.models import Drift, Hold, Partner, Run, Seat
from billing_sync.sync import run_sync
from tests.sync.conftest import NO_HOLDS, NOW, add_seats

DEFAULTS = dict.fromkeys(NO_HOLDS)  # every rule back to its default


def sync(factory, settings, world, **kwargs):
    kwargs.setdefault("now", NOW)
    return run_sync(factory, settings, world.partner_id, **kwargs)


def make_live(factory, world) -> None:
    """Count live seats, so a test can move a count between runs of the same day."""
    with factory.begin() as session:
        session.get(Partner, world.partner_id).count_basis = "live"


def set_rules(factory, world, values: dict) -> None:
    with factory.begin() as session:
        save_rules(session, world.partner_id, None, values, now=NOW)


def set_count(factory, world, external: str, code: str, users: int) -> None:
    """Replace a company's seats of one product with `users` seats."""
    company, product = world.companies[external], world.products[code]
    with factory.begin() as session:
        session.execute(delete(Seat).where(Seat.company_id == company, Seat.product_id == product))
        add_seats(session, world.partner_id, company, product, users, prefix=f"{code}-")


def addition(world, external: str, code: str) -> dict | None:
    """The active addition carrying the product on the company's agreement."""
    found = [a for a in world.additions(external) if a["product"]["id"] == world.catalog[code]]
    assert len(found) <= 1
    return found[0] if found else None


def item(report, external: str, code: str):
    (found,) = [i for i in report.items if i.company == external and i.product == code]
    return found


def rows(factory, model) -> list:
    with factory() as session:
        return list(session.scalars(select(model).order_by(model.id)))


def holds(factory) -> list[Hold]:
    return rows(factory, Hold)


def drifts(factory) -> list[Drift]:
    return rows(factory, Drift)


def run_row(factory, run_id: int) -> Run:
    with factory() as session:
        return session.get(Run, run_id)


def posts_and_patches(state) -> list[str]:
    return [e.method for e in state.log if e.method in ("POST", "PATCH")]

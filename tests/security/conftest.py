"""Security fixtures: the web world (two partners, an admin and a viewer each) and a DB dump."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import String, select

from billing_sync.models import Base

# A hostile ConnectWise on loopback (servers and answers in hostile.py).
from tests.security.hostile import hostile  # noqa: F401

# The web tests' world, app and signed-in clients, shared rather than copied.
from tests.web.conftest import (  # noqa: F401
    admin,
    app,
    sim_state,
    simulator,
    viewer,
    world,
)

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@pytest.fixture
def dump(session_factory):
    """Every row of every table, in primary-key order: equal dumps mean nothing was written."""

    def take() -> dict[str, list[tuple]]:
        with session_factory() as session:
            return {
                table.name: [
                    tuple(row)
                    for row in session.execute(select(table).order_by(*table.primary_key.columns))
                ]
                for table in Base.metadata.sorted_tables
            }

    return take


def misfits(rows: dict[str, list[tuple]]) -> list[str]:
    """Stored strings that would not fit their column on PostgreSQL, or hold control characters.

    SQLite keeps a 1 MB string in a VARCHAR(255) without a word; PostgreSQL refuses it (and any
    NUL). Checking the dump catches on SQLite what PostgreSQL would turn into a 500.
    """
    found = []
    for table in Base.metadata.sorted_tables:
        for index, column in enumerate(table.columns):
            if not isinstance(column.type, String) or column.type.length is None:
                continue
            for row in rows[table.name]:
                value = row[index]
                if isinstance(value, str) and (
                    len(value) > column.type.length or CONTROL.search(value)
                ):
                    found.append(f"{table.name}.{column.name} = {value[:40]!r} ({len(value)})")
    return found

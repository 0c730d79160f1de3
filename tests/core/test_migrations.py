"""The Alembic migrations build exactly the schema the models describe, and re-run harmlessly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from billing_sync.db import init_db
from billing_sync.models import Base


def test_migrated_schema_matches_the_models(engine):
    init_db(engine)  # a second upgrade is a no-op

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)

    assert differences == []

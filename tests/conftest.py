"""Shared fixtures: settings -> engine -> session factory -> session, and a live simulator."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import text

from billing_sync.db import init_db, make_engine, make_session_factory
from billing_sync.models import Base
from billing_sync.settings import Settings

PG_URL = os.environ.get("BILLING_SYNC_TEST_DATABASE_URL")
DATABASES = ["sqlite"] + (["postgresql"] if PG_URL else [])
TEST_SECRET = "test-secret-key-not-for-production"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """One migrated SQLite file, copied for each test (faster than migrating every time)."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    init_db(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_engine():
    """The PostgreSQL test database, migrated once per session."""
    if not PG_URL:
        pytest.skip("BILLING_SYNC_TEST_DATABASE_URL is not set")
    engine = make_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    init_db(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=DATABASES)
def database_url(request, tmp_path, sqlite_template) -> str:
    """A clean, migrated database: SQLite always, PostgreSQL too when configured."""
    if request.param == "sqlite":
        path = tmp_path / "billing-sync.sqlite3"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    engine = request.getfixturevalue("pg_engine")
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return PG_URL


@pytest.fixture
def settings(database_url, tmp_path) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key=TEST_SECRET,
        allow_private_hosts=True,
        instance_path=tmp_path,
        cw_timeout_seconds=5.0,
        sync_concurrency=4,
    )


@pytest.fixture
def engine(settings, request):
    if settings.database_url == PG_URL:
        yield request.getfixturevalue("pg_engine")
        return
    engine = make_engine(settings.database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(engine):
    return make_session_factory(engine)


@pytest.fixture
def session(session_factory):
    with session_factory() as session:
        yield session

"""Engine and session factories, and the Alembic upgrade behind `billing-sync init-db`."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).with_name("migrations")


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout and enforced foreign keys."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn, _record):
        # Several threads and processes share the file: WAL lets readers run beside one writer.
        # pysqlite's own transaction handling is kept on purpose: reads run outside a write
        # transaction and a write waits (busy_timeout) for the lock, so a page that reads and
        # then writes never holds the file against a running sync, and nested sessions in one
        # thread cannot deadlock.
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return engine


IDLE_IN_WRITE_SECONDS = 5  # a ledger or lease transaction never waits on anything else


def bound_idle_transaction(conn: Connection) -> None:
    """On PostgreSQL, end this transaction if its process stops mid-way (SIGSTOP, a frozen VM).

    Its row locks (the lease row, a link row) would otherwise block every later run of the
    partner for as long as the process stays frozen; the server rolls it back instead, so a
    frozen run's intent is simply never committed. SQLite has no such setting (it is the
    single-host default; its writers wait `busy_timeout` and then fail).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(
            text(f"SET LOCAL idle_in_transaction_session_timeout = '{IDLE_IN_WRITE_SECONDS}s'")
        )


def database_problem(exc: OperationalError) -> str:
    """One line for an operator: what the database said (no SQL, no parameters)."""
    said = str(exc.orig or exc).strip().splitlines()
    return "the database did not do the work: " + (said[0] if said else type(exc).__name__)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded values after commit (views and runs read them afterwards)."""
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(engine: Engine) -> Config:
    """An Alembic config that migrates the given engine, without an alembic.ini on disk."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def init_db(engine: Engine) -> None:
    """Create or upgrade the schema to the newest migration; safe to run again."""
    command.upgrade(alembic_config(engine), "head")

"""Autogenerate an Alembic migration from the models: `scripts/new_migration.py "message"`."""

import sys
import tempfile
from pathlib import Path

from alembic import command

from billing_sync.db import alembic_config, init_db, make_engine


def main() -> None:
    message = sys.argv[1] if len(sys.argv) > 1 else "schema change"
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'migrate.sqlite3'}")
        init_db(engine)
        command.revision(alembic_config(engine), message=message, autogenerate=True)


if __name__ == "__main__":
    main()

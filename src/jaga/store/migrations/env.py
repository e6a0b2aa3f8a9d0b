"""Alembic environment: migrate the connection handed over by ``Database.migrate``.

Run from the command line (``alembic -c src/jaga/store/migrations/alembic.ini ...``) it opens the
database named by ``-x url=...`` or the configured one (``JAGA_DATABASE_URL`` / ``JAGA_HOME``).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from jaga.store.models import Base


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        compare_type=True,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from jaga.settings import load_settings
    from jaga.store.db import Database

    url = context.get_x_argument(as_dictionary=True).get("url") or load_settings().database_url
    database = Database(url)
    try:
        with database.engine.begin() as new_connection:
            _run(new_connection)
    finally:
        database.close()


_main()

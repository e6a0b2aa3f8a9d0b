"""Where Jaga keeps its state: SQLAlchemy models, sessions and Alembic migrations.

SQLite is the embedded default, PostgreSQL (``postgresql+psycopg://``) the production store; both
run the same migrations. This package is the one place that speaks SQL: other packages call the
``repo_*`` modules here rather than building queries themselves.
"""

from jaga.store.db import Database, open_database
from jaga.store.errors import DatabaseUnavailable, InvalidDatabaseUrl, StoreError
from jaga.store.models import (
    FOREVER,
    Bank,
    BankEntry,
    Base,
    Content,
    ContentSignal,
    EntryChange,
    MatchRecord,
)

__all__ = [
    "FOREVER",
    "Bank",
    "BankEntry",
    "Base",
    "Content",
    "ContentSignal",
    "Database",
    "DatabaseUnavailable",
    "EntryChange",
    "InvalidDatabaseUrl",
    "MatchRecord",
    "StoreError",
    "open_database",
]

"""Opening databases: URLs, SQLite tuning, transactions, migrations, unreachable servers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import select, text

from jaga.store import Bank, Database, DatabaseUnavailable, InvalidDatabaseUrl, open_database
from jaga.store.db import MIGRATIONS_DIR, alembic_config, parse_url


def test_sqlite_creates_parent_folder_and_uses_wal_and_foreign_keys(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "jaga.db"
    db = open_database(f"sqlite:///{path}")
    try:
        assert path.exists()
        with db.engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert connection.execute(text("PRAGMA busy_timeout")).scalar() >= 1000
    finally:
        db.close()


def test_session_commits_on_success_and_rolls_back_on_error(database: Database) -> None:
    with database.session() as session:
        session.add(Bank(name="kept", kind="known", thresholds={}))

    def fail_after_writing() -> None:
        with database.session() as session:
            session.add(Bank(name="dropped", kind="known", thresholds={}))
            session.flush()
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail_after_writing()
    with database.session() as session:
        names = list(session.scalars(select(Bank.name)))
    assert names == ["kept"]


def test_savepoint_rolls_back_only_its_part(database: Database) -> None:
    # Imports rely on savepoints; on SQLite they only work because Jaga emits BEGIN itself.
    with database.session() as session:
        session.add(Bank(name="outer", kind="known", thresholds={}))
        session.flush()

        def fail_in_savepoint() -> None:
            with session.begin_nested():
                session.add(Bank(name="inner", kind="known", thresholds={}))
                session.flush()
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            fail_in_savepoint()
    with database.session() as session:
        assert list(session.scalars(select(Bank.name))) == ["outer"]


def test_immediate_session_writes(sqlite_database: Database) -> None:
    with sqlite_database.session(immediate=True) as session:
        session.add(Bank(name="a", kind="known", thresholds={}))
    with sqlite_database.session() as session:
        assert session.scalars(select(Bank.name)).one() == "a"


def test_migrate_is_idempotent_and_reaches_head(database: Database) -> None:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    assert database.revision() == head
    database.migrate()
    assert database.revision() == head


def test_migrations_ship_inside_the_package() -> None:
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()
    assert list((MIGRATIONS_DIR / "versions").glob("rev_*.py"))


@pytest.mark.parametrize(
    "url",
    ["mysql://user@host/db", "sqlite+aiosqlite:///x.db", "not a url", "postgresql+asyncpg://h/db"],
)
def test_unsupported_urls_are_rejected(url: str) -> None:
    with pytest.raises(InvalidDatabaseUrl):
        Database(url)


def test_plain_postgresql_url_means_psycopg() -> None:
    assert parse_url("postgresql://u@h/db").drivername == "postgresql+psycopg"


def test_unreachable_postgresql_is_a_typed_error_without_password() -> None:
    # Port 1 on localhost: nothing listens there, so the connection is refused at once.
    with pytest.raises(DatabaseUnavailable) as caught:
        open_database("postgresql+psycopg://jaga:secret@127.0.0.1:1/none?connect_timeout=2")
    assert "secret" not in str(caught.value)
    assert "\n" not in str(caught.value)


def test_unopenable_sqlite_file_is_a_typed_error(tmp_path: Path) -> None:
    folder = tmp_path / "a_folder.db"
    folder.mkdir()
    with pytest.raises(DatabaseUnavailable):
        open_database(f"sqlite:///{folder}")


def test_db_url_reaches_the_same_database_from_a_subprocess(db_url: str) -> None:
    script = (
        "import sys; from jaga.store import open_database; from jaga.banks import service\n"
        "db = open_database(sys.argv[1])\n"
        "with db.session() as s: service.create_bank(s, 'made-elsewhere')\n"
    )
    subprocess.run([sys.executable, "-c", script, db_url], check=True, timeout=120)
    db = open_database(db_url)
    try:
        with db.session() as session:
            assert list(session.scalars(select(Bank.name))) == ["made-elsewhere"]
    finally:
        db.close()

"""Opening the database: engines, sessions and migrations, for SQLite and PostgreSQL alike.

SQLite is the embedded default, so it is tuned for several processes sharing one file: WAL (readers
never block the writer), foreign keys on, a generous busy timeout, and real transactions (the
``sqlite3`` driver's legacy mode would autocommit DDL and break savepoints, so SQLAlchemy emits
BEGIN itself). PostgreSQL is used through psycopg 3 (``postgresql+psycopg://``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from jaga.store.errors import DatabaseUnavailable, InvalidDatabaseUrl

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR: Final = Path(__file__).resolve().parent / "migrations"
#: How long a SQLite connection waits for another process's write lock before giving up.
SQLITE_BUSY_TIMEOUT_MS: Final = 30_000
#: Key of the PostgreSQL advisory lock that serializes concurrent migrations.
_MIGRATION_LOCK_KEY: Final = 0x4A414741  # "JAGA"
_BEGIN_OPTION: Final = "jaga_sqlite_begin"
#: The newest revision shipped (a test checks it equals Alembic's head). Opening a database that
#: is already there skips loading Alembic's migration machinery, which costs every command ~0.3 s.
HEAD_REVISION: Final = "0003"


def parse_url(url: str | URL) -> URL:
    """A SQLAlchemy URL for a backend Jaga supports; ``postgresql://`` means psycopg 3."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        raise InvalidDatabaseUrl(f"malformed database URL: {_redact(str(url))!r}") from None
    backend = parsed.get_backend_name()
    driver = parsed.get_driver_name()
    if backend == "sqlite" and driver == "pysqlite":
        return parsed
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            return parsed.set(drivername="postgresql+psycopg")
        if driver == "psycopg":
            return parsed
    raise InvalidDatabaseUrl(
        f"unsupported database URL {parsed.render_as_string(hide_password=True)!r}: "
        "use sqlite:///path/to/file.db or postgresql+psycopg://user@host/dbname"
    )


def _redact(url: str) -> str:
    head, sep, tail = url.rpartition("@")
    if not sep or "://" not in head:
        return url
    scheme, _, userinfo = head.partition("://")
    return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{tail}"


def _sqlite_path(url: URL) -> Path | None:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control away from the driver: SQLAlchemy emits BEGIN (see _on_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # 64 MiB of page cache (default 2 MiB): bank indexes on random hash keys thrash a small one.
        cursor.execute("PRAGMA cache_size=-65536")
    finally:
        cursor.close()


def _on_sqlite_begin(connection: Connection) -> None:
    mode = connection.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")


class Database:
    """One database: an engine, a session factory and the migrations that shape it.

    Create with :func:`open_database` (which migrates) unless you manage migrations yourself.
    """

    def __init__(self, url: str | URL, *, echo: bool = False) -> None:
        self.url = parse_url(url)
        self.dialect = self.url.get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo}
        if self.dialect == "sqlite":
            path = _sqlite_path(self.url)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
        else:
            kwargs["pool_pre_ping"] = True
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.dialect == "sqlite":
            event.listen(self.engine, "connect", _on_sqlite_connect)
            event.listen(self.engine, "begin", _on_sqlite_begin)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def __repr__(self) -> str:
        return f"Database({self.url.render_as_string(hide_password=True)!r})"

    @contextmanager
    def session(self, *, immediate: bool = False) -> Iterator[Session]:
        """A session in one transaction: committed if the block succeeds, rolled back if not.

        ``immediate=True`` takes SQLite's write lock at BEGIN; use it for transactions that read
        and then write, which otherwise may fail with "database is locked" when another process
        wrote in between. It changes nothing on PostgreSQL.
        """
        bind: Engine = self.engine
        if immediate and self.dialect == "sqlite":
            bind = self.engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
        session = self._sessions(bind=bind)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def migrate(self) -> None:
        """Bring the schema to the newest revision shipped with this package (Alembic)."""
        if self.revision() == HEAD_REVISION:
            return
        from alembic import command

        bind: Engine = self.engine
        if self.dialect == "sqlite":
            bind = self.engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
        with bind.begin() as connection:
            if self.dialect == "postgresql":
                # Several server processes may start at once; only one migrates at a time.
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_KEY}
                )
            command.upgrade(alembic_config(connection), "head")

    def revision(self) -> str | None:
        """The Alembic revision the database is at (None for an empty database).

        Read from Alembic's version table directly: importing Alembic costs every command ~0.3 s.
        """
        with self.engine.connect() as connection:
            if not inspect(connection).has_table("alembic_version"):
                return None
            rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
        return str(rows[0][0]) if len(rows) == 1 else None

    def check(self) -> None:
        """Raise :class:`DatabaseUnavailable` unless a connection can be made."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except (OperationalError, DBAPIError) as error:
            raise DatabaseUnavailable(self._unavailable(error)) from None

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _unavailable(self, error: BaseException) -> str:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()
        first = reason[0] if reason else type(error).__name__
        return f"cannot open database {self.url.render_as_string(hide_password=True)}: {first}"


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic configuration pointing at the migrations shipped inside this package."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def open_database(url: str | URL | None = None, *, migrate: bool = True) -> Database:
    """Open (and by default migrate) the database at ``url``, or the configured one.

    With no URL, ``JAGA_DATABASE_URL`` or the SQLite file under ``JAGA_HOME`` is used.
    """
    if url is None:
        from jaga.settings import load_settings

        url = load_settings().database_url
    database = Database(url)
    try:
        database.check()
        if migrate:
            database.migrate()
    except (OperationalError, DBAPIError) as error:
        database.close()
        raise DatabaseUnavailable(database._unavailable(error)) from None
    except BaseException:
        database.close()
        raise
    return database

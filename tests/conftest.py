"""Shared fixtures. Media is generated here; nothing outside the repository is needed.

Databases: ``database`` (an open, migrated :class:`jaga.store.Database`) and ``db_url`` (its URL,
for tests that start subprocesses) run each test twice, on SQLite (a file in the test's temporary
folder) and on PostgreSQL (``JAGA_TEST_POSTGRES_URL``, default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``). Each PostgreSQL test gets a schema of its
own, named by ``search_path`` in the URL and dropped afterwards, so tests run in parallel
(``pytest -n 2``). If PostgreSQL cannot be reached its runs are skipped with the reason, unless
``JAGA_REQUIRE_POSTGRES=1`` (as in CI), where they fail.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from jaga.store import Database, open_database

POSTGRES_URL = os.environ.get(
    "JAGA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
_POSTGRES: dict[str, Any] = {}
_SQLITE: dict[str, Path] = {}


def _postgres_admin() -> Engine:
    """One engine per test process for creating and dropping schemas."""
    engine = _POSTGRES.get("engine")
    if engine is None:
        engine = create_engine(
            POSTGRES_URL, poolclass=NullPool, connect_args={"connect_timeout": 5}
        )
        _POSTGRES["engine"] = engine
    return engine


def _postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used (None if it can); checked once per test process."""
    if "problem" not in _POSTGRES:
        try:
            with _postgres_admin().connect() as connection:
                connection.execute(text("SELECT 1"))
            _POSTGRES["problem"] = None
        except Exception as error:  # any failure to connect means "unreachable"
            first = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            _POSTGRES["problem"] = first
    problem: str | None = _POSTGRES["problem"]
    return problem


def _postgres_schema_url() -> Iterator[str]:
    problem = _postgres_problem()
    if problem is not None:
        where = make_url(POSTGRES_URL).render_as_string(hide_password=True)
        message = f"PostgreSQL at {where} is unreachable ({problem})"
        if os.environ.get("JAGA_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{message}; JAGA_REQUIRE_POSTGRES=1 requires it")
        pytest.skip(f"{message}; set JAGA_TEST_POSTGRES_URL or start PostgreSQL")
    schema = f"jaga_test_{uuid.uuid4().hex[:16]}"
    admin = _postgres_admin()
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """URL of an empty database of its own (SQLite file, or PostgreSQL schema)."""
    if request.param == "sqlite":
        folder = tmp_path_factory.mktemp("db")
        yield f"sqlite:///{folder / 'jaga.db'}"
        return
    yield from _postgres_schema_url()


def _sqlite_template(factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, made once per test process and copied for each test (fast)."""
    template: Path | None = _SQLITE.get("template")
    if template is None:
        template = factory.mktemp("template") / "jaga.db"
        open_database(f"sqlite:///{template}").close()
        _SQLITE["template"] = template
    return template


@pytest.fixture
def database(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """An open, migrated database on each backend; closed after the test."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        shutil.copyfile(_sqlite_template(tmp_path_factory), url.database)
    db = open_database(db_url)
    try:
        yield db
    finally:
        db.close()


@pytest.fixture
def sqlite_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """A migrated SQLite database only, for tests of SQLite behaviour itself."""
    db = open_database(f"sqlite:///{tmp_path_factory.mktemp('db') / 'jaga.db'}")
    try:
        yield db
    finally:
        db.close()

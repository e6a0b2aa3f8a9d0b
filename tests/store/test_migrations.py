"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, Table

from jaga.store import Base, Database


def _diff(database: Database, metadata: MetaData) -> list[object]:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


def test_migrated_schema_matches_models(database: Database) -> None:
    assert _diff(database, Base.metadata) == []


def test_comparison_does_see_a_difference(database: Database) -> None:
    # The check above is only worth something if a real difference shows up.
    changed = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.tables.values():
        table.to_metadata(changed)
    Table("not_migrated", changed, Column("id", Integer, primary_key=True))
    diff = _diff(database, changed)
    assert [d[0] for d in diff if isinstance(d, tuple)] == ["add_table"]


def test_head_revision_constant_is_alembics_head() -> None:
    """Database.migrate skips Alembic when the database is at HEAD_REVISION; it must be the head."""
    from alembic.script import ScriptDirectory

    from jaga.store.db import HEAD_REVISION, alembic_config

    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD_REVISION

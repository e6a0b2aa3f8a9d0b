"""Revision 0003 (variant rows, match-log variants): down and up again, data and ids kept."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from jaga.banks import service
from jaga.store import Base, Database
from jaga.store.db import alembic_config


def _columns(database: Database, table: str) -> set[str]:
    with database.engine.connect() as connection:
        return {c["name"] for c in inspect(connection).get_columns(table)}


def _downgrade(database: Database, revision: str) -> None:
    with database.engine.begin() as connection:
        command.downgrade(alembic_config(connection), revision)


def test_downgrade_drops_variant_rows_and_upgrade_restores_the_schema(database: Database) -> None:
    with database.session() as session:
        service.create_bank(session, "b")
        entry = service.add_entry(
            session, "b", "pdq", "f0" * 32, labels="A1", variants=[("crop:4", "0f" * 32)]
        ).id
        newest = service.add_entry(session, "b", "pdq", "33" * 32).id
        service.delete_entry(session, newest)  # its id must never come back
    _downgrade(database, "0002")
    assert database.revision() == "0002"
    assert {"variant", "parent_id"}.isdisjoint(_columns(database, "bank_entries"))
    assert {"query_variant", "entry_variant"}.isdisjoint(_columns(database, "match_records"))
    with database.engine.connect() as connection:
        rows = connection.execute(text("SELECT id, labels FROM bank_entries")).all()
    assert [tuple(r) for r in rows] == [(entry, "A1")]  # the entry stays, its variant row goes
    database.migrate()
    assert int(database.revision() or 0) >= 3
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert list(compare_metadata(context, Base.metadata)) == []
    with database.session() as session:
        (kept,) = service.page_entries(session, "b").entries
        assert (kept.id, kept.variant, kept.parent_id) == (entry, "", None)
        again = service.add_entry(session, "b", "pdq", "55" * 32, variants=[("trim", "cc" * 32)])
    # Ids are never reused, across both table rebuilds on SQLite.
    assert again.id > newest
    assert again.variants == 1


def test_the_foreign_key_cascades_on_both_backends(database: Database) -> None:
    # The service deletes variant rows itself (for the change feed); the database backs it up.
    with database.session() as session:
        service.create_bank(session, "b")
        entry = service.add_entry(session, "b", "pdq", "f0" * 32, variants=[("trim", "0f" * 32)])
    with database.engine.begin() as connection:
        connection.execute(text("DELETE FROM bank_entries WHERE id = :id"), {"id": entry.id})
        left = connection.execute(text("SELECT count(*) FROM bank_entries")).scalar()
    assert left == 0

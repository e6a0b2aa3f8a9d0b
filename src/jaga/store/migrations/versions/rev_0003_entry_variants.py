"""Variant rows of bank entries, and how each logged match was made.

``bank_entries`` gains ``variant`` (what was hashed: ``"crop:8"``, ``"trim"``...; ``""`` for a
plain entry) and ``parent_id`` (the plain entry a variant row belongs to, ON DELETE CASCADE), with
a partial index on ``parent_id``. ``match_records`` gains ``query_variant`` and
``entry_variant``. Existing rows are plain entries and plain matches: the server defaults fill
them in, so no row is rewritten.

SQLite cannot add a named foreign key to a table or drop a column one names, so there
``bank_entries`` is rebuilt (a copy of every row, once: about 4 s for 300,000 entries on the
development machine), keeping its AUTOINCREMENT counter; see :func:`_rebuild_sqlite`.
PostgreSQL alters the table in place.

Revision ID: 0003
Revises: 0002
Create Date: 2027-01-12
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FK = "fk_bank_entries_parent_id_bank_entries"
_INDEX = "ix_bank_entries_parent_id"


def _entries_table(metadata: sa.MetaData, name: str, *, variants: bool) -> sa.Table:
    """``bank_entries`` as revision 0003 (``variants``) or 0002 has it, under ``name``."""
    bigint_pk = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    if "banks" not in metadata.tables:  # what the foreign key names (not created here)
        sa.Table("banks", metadata, sa.Column("id", sa.Integer(), primary_key=True))
    columns: list[sa.Column[object]] = [
        sa.Column("id", bigint_pk, nullable=False),
        sa.Column("bank_id", sa.Integer(), nullable=False),
        sa.Column("signal_type", sa.String(length=32), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("value_key", sa.LargeBinary(), nullable=False),
        sa.Column("labels", sa.String(length=1024), nullable=False),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_until", sa.DateTime(timezone=True), nullable=True),
    ]
    constraints: list[sa.Constraint] = [
        sa.ForeignKeyConstraint(
            ["bank_id"], ["banks.id"], name="fk_bank_entries_bank_id_banks", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_bank_entries"),
        sa.UniqueConstraint(
            "bank_id",
            "signal_type",
            "value_key",
            name="uq_bank_entries_bank_id_signal_type_value_key",
        ),
    ]
    if variants:
        columns += [
            sa.Column("variant", sa.String(length=32), nullable=False, server_default=""),
            sa.Column("parent_id", sa.BigInteger(), nullable=True),
        ]
        # Refers to bank_entries by name: the table itself once it has that name.
        constraints.append(
            sa.ForeignKeyConstraint(
                ["parent_id"], ["bank_entries.id"], name=_FK, ondelete="CASCADE"
            )
        )
    return sa.Table(name, metadata, *columns, *constraints, sqlite_autoincrement=True)


def _rebuild_sqlite(*, variants: bool) -> None:
    """Rebuild SQLite's ``bank_entries`` with (or without) the variant columns.

    Not Alembic's batch mode: its copy would hold a foreign key to the table it replaces, and
    with foreign keys on, dropping that table checks the copy for every row it deletes, with no
    index to do it by (hours at a million entries). Here the old table is renamed out of the
    way first, so nothing refers to it when it is dropped. Its AUTOINCREMENT counter is carried
    over: ids of the newest deleted entries live on in indexes, the feed and the match log, and
    must never be handed out again.
    """
    bind = op.get_bind()
    seq = bind.execute(
        sa.text("SELECT seq FROM sqlite_sequence WHERE name = 'bank_entries'")
    ).scalar()
    op.rename_table("bank_entries", "_jaga_old_bank_entries")
    new = _entries_table(sa.MetaData(), "bank_entries", variants=variants)
    new.create(bind)
    shared = ", ".join(c.name for c in _entries_table(sa.MetaData(), "x", variants=False).c)
    op.execute(f"INSERT INTO bank_entries ({shared}) SELECT {shared} FROM _jaga_old_bank_entries")
    op.drop_table("_jaga_old_bank_entries")  # its indexes go with it; made again below
    op.create_index("ix_bank_entries_bank_id_id", "bank_entries", ["bank_id", "id"])
    op.create_index(
        "ix_bank_entries_bank_id_external_id", "bank_entries", ["bank_id", "external_id"]
    )
    op.create_index(
        "ix_bank_entries_disabled_until",
        "bank_entries",
        ["disabled_until"],
        sqlite_where=sa.text("disabled_until IS NOT NULL"),
    )
    if seq is not None:
        bind.execute(
            sa.text("UPDATE sqlite_sequence SET seq = MAX(seq, :seq) WHERE name = 'bank_entries'"),
            {"seq": int(seq)},
        )
        bind.execute(
            sa.text(
                "INSERT INTO sqlite_sequence (name, seq) SELECT 'bank_entries', :seq "
                "WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'bank_entries')"
            ),
            {"seq": int(seq)},
        )


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot add a named foreign key to a table: the table is rebuilt (a copy of
        # every row, once).
        _rebuild_sqlite(variants=True)
    else:
        op.add_column(
            "bank_entries",
            sa.Column("variant", sa.String(length=32), nullable=False, server_default=""),
        )
        op.add_column("bank_entries", sa.Column("parent_id", sa.BigInteger(), nullable=True))
        op.create_foreign_key(
            _FK, "bank_entries", "bank_entries", ["parent_id"], ["id"], ondelete="CASCADE"
        )
    op.create_index(
        _INDEX,
        "bank_entries",
        ["parent_id"],
        sqlite_where=sa.text("parent_id IS NOT NULL"),
        postgresql_where=sa.text("parent_id IS NOT NULL"),
    )
    for column in ("query_variant", "entry_variant"):
        op.add_column(
            "match_records",
            sa.Column(column, sa.String(length=32), nullable=False, server_default=""),
        )


def downgrade() -> None:
    for column in ("entry_variant", "query_variant"):
        op.drop_column("match_records", column)
    # Variant rows mean nothing to revision 0002 (it would export and match them as entries).
    op.execute("DELETE FROM bank_entries WHERE parent_id IS NOT NULL")
    if op.get_bind().dialect.name == "sqlite":
        # The index goes with the old table; until then the self-reference's checks use it.
        _rebuild_sqlite(variants=False)
        return
    op.drop_index(_INDEX, table_name="bank_entries")
    op.drop_constraint(_FK, "bank_entries", type_="foreignkey")
    op.drop_column("bank_entries", "parent_id")
    op.drop_column("bank_entries", "variant")

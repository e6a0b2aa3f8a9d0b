"""Initial schema: banks, bank entries, the entry change feed, content, signals, match log.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# 64-bit keys that still autoincrement on SQLite (only INTEGER PRIMARY KEY aliases the rowid).
_BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "banks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("thresholds", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.CheckConstraint("kind IN ('known', 'allow')", name=op.f("ck_banks_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_banks")),
        sa.UniqueConstraint("name", name=op.f("uq_banks_name")),
        sqlite_autoincrement=True,
    )

    op.create_table(
        "bank_entries",
        sa.Column("id", _BIGINT_PK, nullable=False),
        sa.Column("bank_id", sa.Integer(), nullable=False),
        sa.Column("signal_type", sa.String(length=32), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("value_key", sa.LargeBinary(), nullable=False),
        sa.Column("labels", sa.String(length=1024), nullable=False),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        _timestamp("added_at"),
        _timestamp("disabled_until", nullable=True),
        sa.ForeignKeyConstraint(
            ["bank_id"],
            ["banks.id"],
            name=op.f("fk_bank_entries_bank_id_banks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_entries")),
        sa.UniqueConstraint(
            "bank_id",
            "signal_type",
            "value_key",
            name=op.f("uq_bank_entries_bank_id_signal_type_value_key"),
        ),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_bank_entries_bank_id_id"), "bank_entries", ["bank_id", "id"])
    op.create_index(
        op.f("ix_bank_entries_bank_id_external_id"), "bank_entries", ["bank_id", "external_id"]
    )
    op.create_index(
        op.f("ix_bank_entries_disabled_until"),
        "bank_entries",
        ["disabled_until"],
        sqlite_where=sa.text("disabled_until IS NOT NULL"),
        postgresql_where=sa.text("disabled_until IS NOT NULL"),
    )

    op.create_table(
        "entry_changes",
        sa.Column("seq", _BIGINT_PK, nullable=False),
        sa.Column("op", sa.String(length=8), nullable=False),
        sa.Column("bank_id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=True),
        sa.Column("signal_type", sa.String(length=32), nullable=True),
        _timestamp("at"),
        sa.CheckConstraint("op IN ('add', 'remove', 'update')", name=op.f("ck_entry_changes_op")),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_entry_changes")),
        sqlite_autoincrement=True,
    )

    op.create_table(
        "content",
        sa.Column("id", _BIGINT_PK, nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("format", sa.String(length=32), nullable=False),
        sa.Column("uploader", sa.String(length=255), nullable=True),
        sa.Column("group_id", sa.String(length=255), nullable=True),
        _timestamp("uploaded_at", nullable=True),
        sa.Column("uploader_ip", sa.String(length=45), nullable=True),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_content")),
        sqlite_autoincrement=True,
    )
    for column in ("external_id", "uploader", "group_id", "created_at"):
        op.create_index(op.f(f"ix_content_{column}"), "content", [column])

    op.create_table(
        "content_signals",
        sa.Column("id", _BIGINT_PK, nullable=False),
        sa.Column("content_id", sa.BigInteger(), nullable=False),
        sa.Column("signal_type", sa.String(length=32), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("value_key", sa.LargeBinary(), nullable=False),
        sa.Column("quality", sa.SmallInteger(), nullable=True),
        sa.Column("frame", sa.BigInteger(), nullable=True),
        sa.Column("variant", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["content_id"],
            ["content.id"],
            name=op.f("fk_content_signals_content_id_content"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_content_signals")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_content_signals_content_id"), "content_signals", ["content_id"])
    op.create_index(
        op.f("ix_content_signals_signal_type_value_key"),
        "content_signals",
        ["signal_type", "value_key"],
    )

    op.create_table(
        "match_records",
        sa.Column("id", _BIGINT_PK, nullable=False),
        sa.Column("content_id", sa.BigInteger(), nullable=True),
        sa.Column("bank_id", sa.Integer(), nullable=False),
        sa.Column("bank_name", sa.String(length=64), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("signal_type", sa.String(length=32), nullable=False),
        sa.Column("distance", sa.Integer(), nullable=False),
        sa.Column("query_percent", sa.Float(), nullable=True),
        sa.Column("target_percent", sa.Float(), nullable=True),
        sa.Column("cancelled_by_allow", sa.Boolean(), nullable=False),
        sa.Column("allow_entry_id", sa.BigInteger(), nullable=True),
        _timestamp("created_at"),
        sa.ForeignKeyConstraint(
            ["content_id"],
            ["content.id"],
            name=op.f("fk_match_records_content_id_content"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_match_records")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_match_records_bank_id_created_at"), "match_records", ["bank_id", "created_at"]
    )
    for column in ("content_id", "entry_id", "created_at"):
        op.create_index(op.f(f"ix_match_records_{column}"), "match_records", [column])


def downgrade() -> None:
    for table in (
        "match_records",
        "content_signals",
        "content",
        "entry_changes",
        "bank_entries",
        "banks",
    ):
        op.drop_table(table)

"""Fast bulk writes: millions of bank entries and their change rows in one transaction.

SQLAlchemy's portable executemany-with-RETURNING costs tens of microseconds a row, too slow for
hash lists of millions. These paths drop to the driver, per backend:

* SQLite: one ``executemany`` of ``INSERT ... ON CONFLICT DO NOTHING``. The ids of the inserted
  rows are the consecutive range ending at ``last_insert_rowid()``: the statement holds the
  database's only write lock, so no other writer can take ids in between, and skipped duplicates
  take no id.
* PostgreSQL: ``COPY`` into a temporary table, then one ``INSERT ... SELECT ... ON CONFLICT DO
  NOTHING RETURNING id``.

Both skip rows whose (bank, signal type, value key) exists already or repeats within the batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Final, NamedTuple

from sqlalchemy.orm import Session

from jaga.store.models import BankEntry, EntryChange

_ENTRY_COLUMNS: Final = (
    "bank_id",
    "signal_type",
    "value",
    "value_key",
    "labels",
    "source",
    "external_id",
    "added_at",
    "disabled_until",
)
_CHANGE_COLUMNS: Final = ("op", "bank_id", "entry_id", "signal_type", "at")
_STAGE: Final = "jaga_stage_entries"


class EntryRow(NamedTuple):
    """Column values of one new bank entry, in table order."""

    bank_id: int
    signal_type: str
    value: bytes
    value_key: bytes
    labels: str
    source: str
    external_id: str
    added_at: datetime
    disabled_until: datetime | None


def _datetime_processor(session: Session, column: Any) -> Callable[[datetime], Any]:
    """The dialect's conversion of a datetime parameter, memoised on the last value seen.

    Rows of one import mostly share one timestamp, so this converts once, not per row.
    """
    dialect = session.get_bind().dialect
    processor = column.type.dialect_impl(dialect).bind_processor(dialect)
    last: list[Any] = [None, None]

    def convert(value: datetime) -> Any:
        if value is not last[0]:
            last[0] = value
            last[1] = processor(value) if processor is not None else value
        return last[1]

    return convert


def insert_entry_rows(session: Session, rows: Sequence[EntryRow]) -> list[int]:
    """Insert entries, skipping duplicates; returns the ids of the rows inserted (ascending)."""
    if not rows:
        return []
    # In key order, consecutive rows land on neighbouring pages of the unique index, which
    # spares the page cache on big banks (about a third faster at a million rows on SQLite).
    # The sort is stable, so of two rows with one key the first in the input still wins.
    ordered = sorted(rows, key=_by_key)
    if session.get_bind().dialect.name == "postgresql":
        return _insert_postgresql(session, ordered)
    return _insert_sqlite(session, ordered)


def _by_key(row: EntryRow) -> tuple[str, bytes]:
    return row.signal_type, row.value_key


def _insert_sqlite(session: Session, rows: Sequence[EntryRow]) -> list[int]:
    table = BankEntry.__table__
    to_db = _datetime_processor(session, table.c.added_at)
    params = [
        (
            *row[:7],
            to_db(row.added_at),
            None if row.disabled_until is None else to_db(row.disabled_until),
        )
        for row in rows
    ]
    connection = session.connection()
    before = connection.exec_driver_sql("SELECT total_changes()").scalar_one()
    columns = ", ".join(_ENTRY_COLUMNS)
    marks = ", ".join("?" * len(_ENTRY_COLUMNS))
    connection.exec_driver_sql(
        f"INSERT INTO bank_entries ({columns}) VALUES ({marks}) "
        "ON CONFLICT (bank_id, signal_type, value_key) DO NOTHING",
        params,
    )
    after, last = connection.exec_driver_sql("SELECT total_changes(), last_insert_rowid()").one()
    inserted = int(after) - int(before)
    if inserted <= 0:
        return []
    return list(range(int(last) - inserted + 1, int(last) + 1))


def _raw(session: Session) -> Any:
    return session.connection().connection.driver_connection


def _insert_postgresql(session: Session, rows: Sequence[EntryRow]) -> list[int]:
    session.connection()  # make sure the transaction has begun on this connection
    raw = _raw(session)
    columns = ", ".join(_ENTRY_COLUMNS)
    with raw.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE} "
            "(ord bigint, bank_id integer, signal_type text, value bytea, value_key bytea, "
            "labels text, source text, external_id text, added_at timestamptz, "
            "disabled_until timestamptz) ON COMMIT DROP"
        )
        cursor.execute(f"TRUNCATE {_STAGE}")
        with cursor.copy(f"COPY {_STAGE} (ord, {columns}) FROM STDIN") as copy:
            for number, row in enumerate(rows):
                copy.write_row((number, *row))
        cursor.execute(
            f"INSERT INTO bank_entries ({columns}) SELECT {columns} FROM {_STAGE} ORDER BY ord "
            "ON CONFLICT (bank_id, signal_type, value_key) DO NOTHING RETURNING id"
        )
        return [int(row[0]) for row in cursor.fetchall()]


def insert_change_rows(
    session: Session, rows: Sequence[tuple[str, int, int | None, str | None, datetime]]
) -> None:
    """Append ``(op, bank_id, entry_id, signal_type, at)`` rows to the change feed.

    The caller has taken the feed lock (see :mod:`jaga.store.repo_changes`).
    """
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.connection()
        with _raw(session).cursor() as cursor:
            columns = ", ".join(_CHANGE_COLUMNS)
            with cursor.copy(f"COPY entry_changes ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        return
    to_db = _datetime_processor(session, EntryChange.__table__.c.at)
    session.connection().exec_driver_sql(
        "INSERT INTO entry_changes (op, bank_id, entry_id, signal_type, at) VALUES (?, ?, ?, ?, ?)",
        [(op, bank, entry, st, to_db(at)) for op, bank, entry, st, at in rows],
    )

"""SQL of bank entries: bulk insert without duplicates, deletes, paging, and streaming of hashes.

Bulk paths work on plain column tuples and dicts, never on ORM objects per row: a bank may hold
millions of entries and the matcher reloads them all at start-up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, Final, cast

from sqlalchemy import Row, Table, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from jaga.store.models import Bank, BankEntry

_ENTRIES = cast(Table, BankEntry.__table__)
_BANKS = cast(Table, Bank.__table__)
#: Bound parameters per IN (...) list; well under SQLite's and PostgreSQL's limits.
_IN_CHUNK: Final = 500
_UNIQUE = ("bank_id", "signal_type", "value_key")


def insert_entries(session: Session, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert entry rows, skipping any whose (bank, signal type, value) already exists.

    Each row is a dict of column values including ``value_key``. Returns the ids of the rows
    actually inserted; ``len(rows) - len(ids)`` were duplicates (of stored rows or each other).
    """
    if not rows:
        return []
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(_ENTRIES).on_conflict_do_nothing(index_elements=_UNIQUE)
    else:
        stmt = sqlite.insert(_ENTRIES).on_conflict_do_nothing(index_elements=_UNIQUE)
    result = session.connection().execute(stmt.returning(_ENTRIES.c.id), list(rows))
    return [row[0] for row in result]


def find_entry_id(session: Session, bank_id: int, signal_type: str, key: bytes) -> int | None:
    return session.execute(
        select(_ENTRIES.c.id).where(
            _ENTRIES.c.bank_id == bank_id,
            _ENTRIES.c.signal_type == signal_type,
            _ENTRIES.c.value_key == key,
        )
    ).scalar_one_or_none()


def delete_by_keys(
    session: Session, bank_id: int, signal_type: str, keys: Sequence[bytes]
) -> list[int]:
    """Delete the entries with these value keys, and their variant rows; returns the ids
    deleted (variant rows have their parent's signal type)."""
    deleted: list[int] = []
    for start in range(0, len(keys), _IN_CHUNK):
        chunk = list(keys[start : start + _IN_CHUNK])
        where = (
            _ENTRIES.c.bank_id == bank_id,
            _ENTRIES.c.signal_type == signal_type,
            _ENTRIES.c.value_key.in_(chunk),
        )
        deleted.extend(
            row[0] for row in _delete_children(session, select(_ENTRIES.c.id).where(*where))
        )
        result = session.execute(delete(_ENTRIES).where(*where).returning(_ENTRIES.c.id))
        deleted.extend(row[0] for row in result)
    return deleted


def _delete_children(session: Session, parents: Any) -> list[tuple[int, str]]:
    """Delete the variant rows of the entries ``parents`` (a select of ids) selects.

    The foreign key's ON DELETE CASCADE would remove them too, but silently: the change feed
    needs their ids, and on SQLite a row the cascade removed is missing from RETURNING.
    """
    result = session.execute(
        delete(_ENTRIES)
        .where(_ENTRIES.c.parent_id.in_(parents.scalar_subquery()))
        .returning(_ENTRIES.c.id, _ENTRIES.c.signal_type)
    )
    return [(row[0], row[1]) for row in result]


def delete_by_external_ids(
    session: Session, bank_id: int, external_ids: Sequence[str]
) -> list[tuple[int, str]]:
    """Delete the entries with these external ids; returns ``(id, signal_type)`` deleted."""
    deleted: list[tuple[int, str]] = []
    for start in range(0, len(external_ids), _IN_CHUNK):
        chunk = list(external_ids[start : start + _IN_CHUNK])
        where = (_ENTRIES.c.bank_id == bank_id, _ENTRIES.c.external_id.in_(chunk))
        deleted.extend(_delete_children(session, select(_ENTRIES.c.id).where(*where)))
        result = session.execute(
            delete(_ENTRIES).where(*where).returning(_ENTRIES.c.id, _ENTRIES.c.signal_type)
        )
        deleted.extend((row[0], row[1]) for row in result)
    return deleted


def delete_variants_of(session: Session, parent_ids: Sequence[int]) -> list[tuple[int, str]]:
    """Delete the variant rows of these entries; returns ``(id, signal_type)`` deleted."""
    deleted: list[tuple[int, str]] = []
    for start in range(0, len(parent_ids), _IN_CHUNK):
        chunk = list(parent_ids[start : start + _IN_CHUNK])
        result = session.execute(
            delete(_ENTRIES)
            .where(_ENTRIES.c.parent_id.in_(chunk))
            .returning(_ENTRIES.c.id, _ENTRIES.c.signal_type)
        )
        deleted.extend((row[0], row[1]) for row in result)
    return deleted


def set_variants_disabled(
    session: Session, parent_id: int, disabled_until: datetime | None
) -> list[tuple[int, str]]:
    """Give the variant rows of an entry this ``disabled_until``; returns ``(id, signal_type)``
    of the rows that changed."""
    column = _ENTRIES.c.disabled_until
    changed = (
        column.is_not(None)
        if disabled_until is None
        else or_(column.is_(None), column != disabled_until)
    )
    result = session.execute(
        update(_ENTRIES)
        .where(_ENTRIES.c.parent_id == parent_id, changed)
        .values(disabled_until=disabled_until)
        .returning(_ENTRIES.c.id, _ENTRIES.c.signal_type)
    )
    return [(row[0], row[1]) for row in result]


def variants_of(session: Session, parent_id: int) -> list[BankEntry]:
    """The variant rows of an entry, in id order."""
    stmt = select(BankEntry).where(BankEntry.parent_id == parent_id).order_by(BankEntry.id)
    return list(session.scalars(stmt))


def release_expired(session: Session, now: datetime) -> list[tuple[int, int, str]]:
    """Clear ``disabled_until`` where it has passed; returns ``(id, bank_id, signal_type)``."""
    result = session.execute(
        update(_ENTRIES)
        .where(_ENTRIES.c.disabled_until <= now)
        .values(disabled_until=None)
        .returning(_ENTRIES.c.id, _ENTRIES.c.bank_id, _ENTRIES.c.signal_type)
    )
    return [(row[0], row[1], row[2]) for row in result]


def count_by_signal_type(
    session: Session, bank_id: int, *, variant_rows: bool = False
) -> dict[str, int]:
    """Entries of a bank per signal type: plain entries, or (``variant_rows``) variant rows."""
    kind = _ENTRIES.c.parent_id.is_not(None) if variant_rows else _ENTRIES.c.parent_id.is_(None)
    rows = session.execute(
        select(_ENTRIES.c.signal_type, func.count())
        .where(_ENTRIES.c.bank_id == bank_id, kind)
        .group_by(_ENTRIES.c.signal_type)
    )
    return {row[0]: int(row[1]) for row in rows}


def page(
    session: Session,
    bank_id: int,
    *,
    signal_type: str | None,
    after: int | None,
    limit: int,
    newest_first: bool,
    include_variants: bool = False,
) -> list[BankEntry]:
    """Up to ``limit`` entries of a bank in id order, strictly past the id ``after`` (plain
    entries only unless ``include_variants``)."""
    stmt = select(BankEntry).where(BankEntry.bank_id == bank_id)
    if not include_variants:
        stmt = stmt.where(BankEntry.parent_id.is_(None))
    if signal_type is not None:
        stmt = stmt.where(BankEntry.signal_type == signal_type)
    if newest_first:
        if after is not None:
            stmt = stmt.where(BankEntry.id < after)
        stmt = stmt.order_by(BankEntry.id.desc())
    else:
        if after is not None:
            stmt = stmt.where(BankEntry.id > after)
        stmt = stmt.order_by(BankEntry.id)
    return list(session.scalars(stmt.limit(limit)))


def enabled_bank_ids(session: Session) -> list[int]:
    return list(
        session.scalars(select(_BANKS.c.id).where(_BANKS.c.enabled.is_(True)).order_by(_BANKS.c.id))
    )


def _active(now: datetime) -> Any:
    return or_(_ENTRIES.c.disabled_until.is_(None), _ENTRIES.c.disabled_until <= now)


def _fetch_in_chunks(
    session: Session, stmt: Any, chunk: int, *, raw: bool = False
) -> Iterator[Sequence[Any]]:
    """Rows of ``stmt``, ``chunk`` at a time.

    ``raw=True`` hands over SQLite's plain tuples, skipping SQLAlchemy's Row objects (about a
    microsecond a row); only for columns that need no result conversion (ints, bytes).
    """
    connection = session.connection()
    streaming = connection.dialect.name == "postgresql"
    if streaming:
        # A server-side cursor; per statement, as Connection.execution_options() would change
        # the session's connection. (SQLite's cursor already steps lazily, and SQLAlchemy's
        # streaming buffer would only add a per-row cost there.)
        stmt = stmt.execution_options(yield_per=chunk)
    result = connection.execute(stmt)
    # Never bypass SQLAlchemy's buffer of a streamed result: it may hold rows already.
    fetch = result.cursor.fetchmany if raw and not streaming else result.fetchmany
    try:
        while True:
            rows = fetch(chunk)
            if not rows:
                break
            yield rows
    finally:
        result.close()


def stream_active(
    session: Session,
    bank_id: int,
    signal_type: str,
    *,
    now: datetime,
    chunk: int,
    plain_only: bool = False,
) -> Iterator[Sequence[tuple[int, bytes]]]:
    """``(id, value)`` of the active entries of one bank and signal type, ``chunk`` at a time
    (variant rows too, unless ``plain_only``; :func:`stream_active_variants` says whose).

    In id order, which walks the (bank_id, id) index and reads the table sequentially; the
    unique (bank, type, value) index would visit rows in hash order, 4x slower on SQLite. Rows
    come from one server-side cursor (PostgreSQL) or one stepping statement (SQLite), so memory
    stays flat however big the bank.
    """
    stmt = (
        select(_ENTRIES.c.id, _ENTRIES.c.value)
        .where(_ENTRIES.c.bank_id == bank_id, _ENTRIES.c.signal_type == signal_type, _active(now))
        .order_by(_ENTRIES.c.id)
    )
    if plain_only:
        stmt = stmt.where(_ENTRIES.c.parent_id.is_(None))
    yield from _fetch_in_chunks(session, stmt, chunk, raw=True)


def stream_active_variants(
    session: Session, bank_id: int, signal_type: str, *, now: datetime, chunk: int
) -> Iterator[Sequence[tuple[int, bytes, int, str]]]:
    """``(id, value, parent_id, variant)`` of the active variant rows of one bank and signal
    type, in id order, ``chunk`` at a time (through the partial index on ``parent_id``)."""
    stmt = (
        select(_ENTRIES.c.id, _ENTRIES.c.value, _ENTRIES.c.parent_id, _ENTRIES.c.variant)
        .where(
            _ENTRIES.c.bank_id == bank_id,
            _ENTRIES.c.signal_type == signal_type,
            _ENTRIES.c.parent_id.is_not(None),
            _active(now),
        )
        .order_by(_ENTRIES.c.id)
    )
    yield from _fetch_in_chunks(session, stmt, chunk, raw=True)


def active_among(
    session: Session, entry_ids: Sequence[int], *, now: datetime
) -> list[Row[int, int, str, bytes]]:
    """``(bank_id, id, signal_type, value)`` of those entries that are active in enabled banks."""
    found: list[Row[int, int, str, bytes]] = []
    ids = sorted(set(entry_ids))
    for start in range(0, len(ids), _IN_CHUNK):
        stmt = (
            select(_ENTRIES.c.bank_id, _ENTRIES.c.id, _ENTRIES.c.signal_type, _ENTRIES.c.value)
            .select_from(_ENTRIES.join(_BANKS, _BANKS.c.id == _ENTRIES.c.bank_id))
            .where(
                _ENTRIES.c.id.in_(ids[start : start + _IN_CHUNK]),
                _BANKS.c.enabled.is_(True),
                _active(now),
            )
            .order_by(_ENTRIES.c.id)
        )
        found.extend(session.execute(stmt))
    return found


def active_among_linked(
    session: Session, entry_ids: Sequence[int], *, now: datetime
) -> list[Row[int, int, str, bytes, int | None, str]]:
    """As :func:`active_among`, with each row's ``parent_id`` and ``variant`` after its value."""
    found: list[Row[int, int, str, bytes, int | None, str]] = []
    ids = sorted(set(entry_ids))
    for start in range(0, len(ids), _IN_CHUNK):
        stmt = (
            select(
                _ENTRIES.c.bank_id,
                _ENTRIES.c.id,
                _ENTRIES.c.signal_type,
                _ENTRIES.c.value,
                _ENTRIES.c.parent_id,
                _ENTRIES.c.variant,
            )
            .select_from(_ENTRIES.join(_BANKS, _BANKS.c.id == _ENTRIES.c.bank_id))
            .where(
                _ENTRIES.c.id.in_(ids[start : start + _IN_CHUNK]),
                _BANKS.c.enabled.is_(True),
                _active(now),
            )
            .order_by(_ENTRIES.c.id)
        )
        found.extend(session.execute(stmt))
    return found


def _memoized(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``convert`` remembering recent inputs: a bank's rows share a few import timestamps."""
    seen: dict[Any, Any] = {}

    def run(raw: Any) -> Any:
        if raw is None:
            return None
        found = seen.get(raw, _MISSING)
        if found is _MISSING:
            if len(seen) >= 4096:
                seen.clear()
            found = seen[raw] = convert(raw)
        return found

    return run


_MISSING: Final = object()

ExportRow = tuple[str, bytes, str, str, str, datetime, datetime | None]


def stream_bank(
    session: Session,
    bank_id: int,
    *,
    signal_type: str | None,
    chunk: int,
    include_variants: bool = False,
) -> Iterator[list[ExportRow]]:
    """What an export needs of every entry of a bank, in id (insertion) order.

    Rows are plain tuples; timestamps are converted once per distinct stored value. Variant
    rows are left out unless asked for: an export is a hash list for other platforms, and a
    hash derived by Jaga (a crop, a trim) is not a hash of the known media.
    """
    columns = [
        _ENTRIES.c.signal_type,
        _ENTRIES.c.value,
        _ENTRIES.c.labels,
        _ENTRIES.c.source,
        _ENTRIES.c.external_id,
        _ENTRIES.c.added_at,
        _ENTRIES.c.disabled_until,
    ]
    stmt = select(*columns).where(_ENTRIES.c.bank_id == bank_id)
    if signal_type is not None:
        stmt = stmt.where(_ENTRIES.c.signal_type == signal_type)
    if not include_variants:
        stmt = stmt.where(_ENTRIES.c.parent_id.is_(None))
    dialect = session.get_bind().dialect
    raw = dialect.name == "sqlite"
    if raw:
        processor = _ENTRIES.c.added_at.type.dialect_impl(dialect).result_processor(dialect, None)
        to_datetime = _memoized(processor if processor is not None else (lambda v: v))
    else:
        to_datetime = _memoized(lambda v: v)
    for rows in _fetch_in_chunks(session, stmt.order_by(_ENTRIES.c.id), chunk, raw=raw):
        yield [
            (st, bytes(value), labels, source, ext, to_datetime(added), to_datetime(disabled))
            for st, value, labels, source, ext, added, disabled in rows
        ]


__all__ = [
    "ExportRow",
    "active_among",
    "active_among_linked",
    "count_by_signal_type",
    "delete_by_external_ids",
    "delete_by_keys",
    "delete_variants_of",
    "enabled_bank_ids",
    "find_entry_id",
    "insert_entries",
    "page",
    "release_expired",
    "set_variants_disabled",
    "stream_active",
    "stream_active_variants",
    "stream_bank",
    "variants_of",
]

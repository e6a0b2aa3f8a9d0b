"""SQL of the entry change feed: appending in commit order, and reading it back.

Several server processes keep their in-memory indexes in sync by polling ``seq > last_seen``. That
only works if no change can become visible with a smaller ``seq`` than one already read. SQLite
serializes writers, so it holds there by construction. On PostgreSQL two transactions could take
sequence numbers in one order and commit in the other, so writers take an EXCLUSIVE lock on the
feed table (readers are not blocked) just before appending: sequence numbers are then handed out
in commit order. Append as the last step of a transaction to keep that lock short.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, cast

from sqlalchemy import Table, delete, func, insert, select, text
from sqlalchemy.orm import Session

from jaga.store.bulk import insert_change_rows
from jaga.store.models import EntryChange
from jaga.store.types import utcnow

_TABLE = cast(Table, EntryChange.__table__)
_CHUNK: Final = 50_000


@dataclass(frozen=True, slots=True)
class Change:
    """One row of the feed. ``entry_id is None`` means the whole bank changed: reload it."""

    seq: int
    op: str  # add | remove | update
    bank_id: int
    entry_id: int | None
    signal_type: str | None
    at: datetime

    @property
    def is_bank_change(self) -> bool:
        return self.entry_id is None


def _lock(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE entry_changes IN EXCLUSIVE MODE"))


def append_bank_change(session: Session, op: str, bank_id: int) -> None:
    _lock(session)
    session.execute(insert(_TABLE).values(op=op, bank_id=bank_id, at=utcnow()))


def append_entry_changes(session: Session, op: str, entries: Iterable[tuple[int, int, str]]) -> int:
    """Append one change per ``(entry_id, bank_id, signal_type)``; returns how many."""
    at = utcnow()
    locked = False
    count = 0
    batch: list[tuple[str, int, int | None, str | None, datetime]] = []
    for entry_id, bank_id, signal_type in entries:
        batch.append((op, bank_id, entry_id, signal_type, at))
        if len(batch) >= _CHUNK:
            if not locked:
                _lock(session)
                locked = True
            insert_change_rows(session, batch)
            count += len(batch)
            batch = []
    if batch:
        if not locked:
            _lock(session)
        insert_change_rows(session, batch)
        count += len(batch)
    return count


def changes_since(session: Session, seq: int, *, limit: int = 10_000) -> list[Change]:
    rows = session.execute(
        select(
            _TABLE.c.seq,
            _TABLE.c.op,
            _TABLE.c.bank_id,
            _TABLE.c.entry_id,
            _TABLE.c.signal_type,
            _TABLE.c.at,
        )
        .where(_TABLE.c.seq > seq)
        .order_by(_TABLE.c.seq)
        .limit(limit)
    )
    return [Change(*row) for row in rows]


def latest_seq(session: Session) -> int:
    value = session.execute(select(func.max(_TABLE.c.seq))).scalar_one_or_none()
    return int(value or 0)


def prune_changes(session: Session, *, before: datetime) -> int:
    """Delete feed rows older than ``before`` (readers that far behind must reload fully)."""
    result = session.execute(delete(_TABLE).where(_TABLE.c.at < before))
    return int(getattr(result, "rowcount", 0) or 0)


def oldest_seq(session: Session) -> int:
    """Smallest seq still in the feed (0 if empty); a reader behind it must reload fully."""
    value = session.execute(select(func.min(_TABLE.c.seq))).scalar_one_or_none()
    return int(value or 0)


__all__: Sequence[str] = (
    "Change",
    "append_bank_change",
    "append_entry_changes",
    "changes_since",
    "latest_seq",
    "oldest_seq",
    "prune_changes",
)

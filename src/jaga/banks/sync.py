"""What the matcher reads to build and keep up its in-memory indexes.

At start-up it streams every active hash of a signal type as packed arrays
(:func:`iter_active_hashes_by_bank`); afterwards it polls the change feed (:func:`changes_since`)
and re-reads only the entries that changed (:func:`active_hashes`). No ORM object is made per
row: two columns are selected and fetched in chunks straight into NumPy arrays.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Final

import numpy as np
from numpy.typing import NDArray
from sqlalchemy.orm import Session

import jaga.signals  # noqa: F401  (registers the built-in signal types)
from jaga.errors import InvalidInput
from jaga.signals.registry import get_signal_type
from jaga.store import repo_changes, repo_entries
from jaga.store.repo_changes import Change
from jaga.store.types import as_utc, utcnow

DEFAULT_CHUNK: Final = 100_000

#: An (n, size) uint8 array for fixed-size signal types; a list of values for vPDQ, whose values
#: hold a variable number of frames.
HashValues = NDArray[np.uint8] | list[bytes]

__all__ = [
    "ActiveEntry",
    "Change",
    "HashValues",
    "active_hashes",
    "changes_since",
    "is_variable_size",
    "iter_active_hashes",
    "iter_active_hashes_by_bank",
    "latest_change_seq",
    "oldest_change_seq",
    "release_expired_disables",
]


@cache
def is_variable_size(signal_type: str) -> bool:
    """True for types whose values are any number of ``size``-byte records (vPDQ).

    Probed rather than listed: a fixed-size type rejects a value of twice its size.
    """
    st = get_signal_type(signal_type)
    try:
        st.validate(bytes(2 * st.size))
    except InvalidInput:
        return False
    return True


def _pack(
    signal_type: str, rows: Sequence[tuple[int, bytes]]
) -> tuple[NDArray[np.int64], HashValues]:
    ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
    if is_variable_size(signal_type):
        return ids, [bytes(row[1]) for row in rows]
    size = get_signal_type(signal_type).size
    blob = b"".join([row[1] for row in rows])
    if len(blob) != size * len(rows):
        bad = next(row[0] for row in rows if len(row[1]) != size)
        raise InvalidInput(f"bank entry {bad} holds a {signal_type} value of the wrong size")
    return ids, np.frombuffer(blob, dtype=np.uint8).reshape(len(rows), size)


def iter_active_hashes_by_bank(
    session: Session,
    signal_type: str,
    *,
    chunk: int = DEFAULT_CHUNK,
    bank_id: int | None = None,
    now: datetime | None = None,
) -> Iterator[tuple[int, NDArray[np.int64], HashValues]]:
    """``(bank_id, ids, values)`` chunks of the active entries of enabled banks.

    Each chunk holds up to ``chunk`` entries of one bank; ids are bank-entry ids (int64), in
    ascending order within a bank. Pass ``bank_id`` to load one bank (nothing if it is disabled).
    """
    name = get_signal_type(signal_type).name
    moment = as_utc(now) if now else utcnow()
    bank_ids = repo_entries.enabled_bank_ids(session)
    if bank_id is not None:
        bank_ids = [b for b in bank_ids if b == bank_id]
    for current in bank_ids:
        for rows in repo_entries.stream_active(session, current, name, now=moment, chunk=chunk):
            ids, values = _pack(name, rows)
            yield current, ids, values


def iter_active_hashes(
    session: Session,
    signal_type: str,
    *,
    chunk: int = DEFAULT_CHUNK,
    bank_id: int | None = None,
    now: datetime | None = None,
) -> Iterator[tuple[NDArray[np.int64], HashValues]]:
    """``(ids, values)`` chunks of the active entries of enabled banks, all banks together.

    ``values`` is an ``(n, size)`` uint8 array (a list of bytes for vPDQ). An entry is active
    unless ``now < disabled_until``. Chunks never mix banks, so some hold fewer than ``chunk``.
    """
    for _bank, ids, values in iter_active_hashes_by_bank(
        session, signal_type, chunk=chunk, bank_id=bank_id, now=now
    ):
        yield ids, values


@dataclass(frozen=True, slots=True)
class ActiveEntry:
    bank_id: int
    id: int
    signal_type: str
    value: bytes


def active_hashes(
    session: Session, entry_ids: Sequence[int], *, now: datetime | None = None
) -> list[ActiveEntry]:
    """Those of ``entry_ids`` that are active in enabled banks, with their values.

    For applying the change feed: drop every changed id from the index, then add back these.
    """
    moment = as_utc(now) if now else utcnow()
    return [
        ActiveEntry(row[0], row[1], row[2], bytes(row[3]))
        for row in repo_entries.active_among(session, entry_ids, now=moment)
    ]


def changes_since(session: Session, seq: int, *, limit: int = 10_000) -> list[Change]:
    """Feed rows after ``seq``, oldest first (at most ``limit``); start from 0.

    A row with ``entry_id is None`` is a whole-bank change (enabled toggled, thresholds changed,
    bank created or deleted): reload that bank. If ``seq`` is older than
    :func:`oldest_change_seq` the feed was pruned past it: reload everything.
    """
    return repo_changes.changes_since(session, seq, limit=limit)


def latest_change_seq(session: Session) -> int:
    """The newest feed position; remember it before a full load, then poll from it."""
    return repo_changes.latest_seq(session)


def oldest_change_seq(session: Session) -> int:
    return repo_changes.oldest_seq(session)


def release_expired_disables(session: Session, *, now: datetime | None = None) -> int:
    """Re-enable entries whose ``disabled_until`` has passed, with feed rows; returns how many.

    An expiring disable writes nothing by itself, so a server runs this every minute or so (any
    one process will do; it is idempotent). Until then indexes keep the entry out a little longer.
    """
    moment = as_utc(now) if now else utcnow()
    released = repo_entries.release_expired(session, moment)
    if released:
        repo_changes.append_entry_changes(
            session, "update", [(entry_id, bank, st) for entry_id, bank, st in released]
        )
    return len(released)

"""Reading bank entries from the store into a :class:`BankIndexSet`: entries and variant rows.

Plain entries go into each slot's index, variant rows into its variant index with their parent
and name (see :mod:`jaga.matching.variant_links`). Rows are fetched in chunks of plain column
tuples and packed straight into arrays, as :mod:`jaga.banks.sync` does for the plain hashes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence, Set
from datetime import datetime
from typing import Final

import numpy as np
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from jaga.banks.sync import is_variable_size
from jaga.errors import InvalidInput
from jaga.matching.bank_index import BankIndexSet
from jaga.signals.registry import get_signal_type
from jaga.store import repo_entries
from jaga.store.types import utcnow

CHUNK: Final = 100_000

#: (bank id, signal type, ids, values): entries to add to one index.
EntryGroup = tuple[int, str, NDArray[np.int64], object]
#: (bank id, signal type, ids, values, parent ids, variant names): variant rows to add.
VariantGroup = tuple[int, str, NDArray[np.int64], NDArray[np.uint8], NDArray[np.int64], list[str]]


def _packed(signal_type: str, ids: Iterable[int], values: Sequence[bytes]) -> object:
    """Values as an (n, size) uint8 array (a list of bytes for vPDQ)."""
    if is_variable_size(signal_type):
        return [bytes(v) for v in values]
    size = get_signal_type(signal_type).size
    blob = b"".join(values)
    if len(blob) != size * len(values):
        bad = next(i for i, v in zip(ids, values, strict=True) if len(v) != size)
        raise InvalidInput(f"bank entry {bad} holds a {signal_type} value of the wrong size")
    return np.frombuffer(blob, dtype=np.uint8).reshape(len(values), size)


def load_entries(
    session: Session,
    indexes: BankIndexSet,
    signal_types: Iterable[str],
    *,
    bank_id: int | None = None,
    now: datetime | None = None,
    chunk: int = CHUNK,
) -> int:
    """Add the active entries and variant rows of enabled banks (or of one bank); returns how
    many entries (not counting variant rows)."""
    moment = now or utcnow()
    bank_ids = repo_entries.enabled_bank_ids(session)
    if bank_id is not None:
        bank_ids = [b for b in bank_ids if b == bank_id]
    loaded = 0
    for signal_type in signal_types:
        name = get_signal_type(signal_type).name
        for current in bank_ids:
            for rows in repo_entries.stream_active(
                session, current, name, now=moment, chunk=chunk, plain_only=True
            ):
                ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
                indexes.add(current, name, ids, _packed(name, ids, [r[1] for r in rows]))
                loaded += len(rows)
            if is_variable_size(name):
                continue  # vPDQ: no variant rows
            for variant_rows in repo_entries.stream_active_variants(
                session, current, name, now=moment, chunk=chunk
            ):
                count = len(variant_rows)
                ids = np.fromiter((r[0] for r in variant_rows), dtype=np.int64, count=count)
                values = _packed(name, ids, [r[1] for r in variant_rows])
                assert isinstance(values, np.ndarray)
                parents = np.fromiter((r[2] for r in variant_rows), dtype=np.int64, count=count)
                names = [str(r[3]) for r in variant_rows]
                indexes.add_variants(current, name, ids, values, parents, names)
    indexes.settle()
    return loaded


def active_groups(
    session: Session, entry_ids: Sequence[int], signal_types: Set[str]
) -> tuple[list[EntryGroup], list[VariantGroup]]:
    """Those of ``entry_ids`` that are (still) active, grouped per (bank, type): entries, and
    variant rows with their parents and names."""
    plain: dict[tuple[int, str], tuple[list[int], list[bytes]]] = defaultdict(lambda: ([], []))
    linked: dict[tuple[int, str], tuple[list[int], list[bytes], list[int], list[str]]] = (
        defaultdict(lambda: ([], [], [], []))
    )
    rows = repo_entries.active_among_linked(session, entry_ids, now=utcnow())
    for bank_id, entry_id, signal_type, value, parent_id, variant in rows:
        if signal_type not in signal_types:
            continue
        if parent_id is None:
            ids, values = plain[(bank_id, signal_type)]
            ids.append(entry_id)
            values.append(bytes(value))
        else:
            vids, vvalues, parents, names = linked[(bank_id, signal_type)]
            vids.append(entry_id)
            vvalues.append(bytes(value))
            parents.append(parent_id)
            names.append(variant)
    groups: list[EntryGroup] = [
        (bank_id, st, np.array(ids, dtype=np.int64), _packed(st, ids, values))
        for (bank_id, st), (ids, values) in plain.items()
    ]
    variant_groups: list[VariantGroup] = []
    for (bank_id, st), (vids, vvalues, parents, names) in linked.items():
        packed = _packed(st, vids, vvalues)
        assert isinstance(packed, np.ndarray)
        variant_groups.append(
            (
                bank_id,
                st,
                np.array(vids, dtype=np.int64),
                packed,
                np.array(parents, dtype=np.int64),
                names,
            )
        )
    return groups, variant_groups

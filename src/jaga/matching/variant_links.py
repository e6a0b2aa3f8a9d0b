"""Which bank entry each variant row belongs to, in memory: id -> (parent id, variant name).

A variant row (see :class:`jaga.store.models.BankEntry`) is searched like any hash, under its own
id, so the change feed can add and remove it like any entry; a hit on it is then reported as a
hit on its parent. Banks Jaga hashed hold about seven variant rows per entry, so a bank of a
million images needs seven million links: they are kept as one sorted ``(n, 3)`` int64 array
``[id, parent, code]`` (24 bytes a row, searched by bisection, saved as a plain ``.npy`` file that
opens memory-mapped), the few variant names as a list indexed by ``code``.

The array is never changed in place. Links added one by one (the change feed) go into a small
dictionary, big loads into pending chunks; both are merged into a new array when needed.
Removed links are only remembered until the next merge: a removed row is gone from the index,
so no query can ask for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final

import numpy as np
from numpy.typing import NDArray

from jaga.errors import JagaError

#: Links added at once up to this many go into the dictionary; more, into a pending chunk.
_SMALL: Final = 256
#: The dictionary is merged into the array once it holds this many links.
_MERGE_AFTER: Final = 65_536

I64 = NDArray[np.int64]


class LinksError(JagaError):
    """A saved links file cannot be used (damaged, wrong shape, names missing)."""


def _empty() -> I64:
    return np.zeros((0, 3), dtype=np.int64)


class VariantLinks:
    """Variant row id -> (parent entry id, variant name) for one (bank, signal type)."""

    def __init__(self, names: Sequence[str] = (), table: I64 | None = None) -> None:
        self.names: list[str] = list(names)
        self._codes = {name: code for code, name in enumerate(self.names)}
        self._table: I64 = _empty() if table is None else table
        self._recent: dict[int, tuple[int, int]] = {}
        self._chunks: list[I64] = []
        self._removed: set[int] = set()

    def __len__(self) -> int:
        self._merge(force=True)
        return int(self._table.shape[0])

    def code(self, name: str) -> int:
        found = self._codes.get(name)
        if found is None:
            found = self._codes[name] = len(self.names)
            self.names.append(name)
        return found

    def add(self, ids: I64, parents: I64, names: Sequence[str]) -> None:
        """Link each of ``ids`` to its parent and variant name (replacing an older link)."""
        codes = np.fromiter((self.code(n) for n in names), dtype=np.int64, count=len(names))
        rows = np.stack(
            [np.asarray(ids, dtype=np.int64), np.asarray(parents, dtype=np.int64), codes], axis=1
        )
        if rows.shape[0] <= _SMALL:
            for row_id, parent, code in rows.tolist():
                self._recent[row_id] = (parent, code)
            if len(self._recent) >= _MERGE_AFTER:
                self._merge(force=True)
        else:
            self._chunks.append(rows)

    def discard(self, ids: Sequence[int] | I64) -> None:
        """Forget the links of these ids (those that are not links are ignored)."""
        self._merge()
        wanted = np.asarray(ids, dtype=np.int64)
        for row_id in wanted.tolist():
            self._recent.pop(row_id, None)
        stored = self._table[:, 0]
        if stored.shape[0] and wanted.shape[0]:
            at = np.minimum(np.searchsorted(stored, wanted), stored.shape[0] - 1)
            self._removed.update(wanted[stored[at] == wanted].tolist())

    def resolve(self, ids: I64) -> tuple[I64, list[str]]:
        """Parent ids and variant names of variant rows that are linked (as returned by a
        query of the variant index)."""
        self._merge()
        parents = np.empty(len(ids), dtype=np.int64)
        names: list[str] = []
        stored = self._table[:, 0]
        for i, row_id in enumerate(np.asarray(ids, dtype=np.int64).tolist()):
            link = self._recent.get(row_id)
            if link is None:
                at = int(np.searchsorted(stored, row_id))
                if at >= stored.shape[0] or int(stored[at]) != row_id:
                    raise LinksError(f"variant row {row_id} has no parent in the index")
                link = (int(self._table[at, 1]), int(self._table[at, 2]))
            parents[i] = link[0]
            names.append(self.names[link[1]])
        return parents, names

    def settle(self) -> None:
        """Merge everything pending now (after a big load, before the first query)."""
        self._merge(force=True)

    def _merge(self, *, force: bool = False) -> None:
        if not self._chunks and not (force and (self._recent or self._removed)):
            return
        table = self._table
        if self._removed:
            gone = np.fromiter(self._removed, dtype=np.int64, count=len(self._removed))
            table = table[~np.isin(table[:, 0], gone)]
        parts = [table, *self._chunks]
        if self._recent:
            parts.append(
                np.array([(k, p, c) for k, (p, c) in self._recent.items()], dtype=np.int64).reshape(
                    -1, 3
                )
            )
        merged = np.concatenate(parts) if len(parts) > 1 else table
        if merged.shape[0] > 1 and not bool(np.all(np.diff(merged[:, 0]) > 0)):
            # Sort by id; of repeated ids keep the last added (a replaced link).
            order = np.argsort(merged[:, 0], kind="stable")
            merged = merged[order]
            last = np.append(merged[1:, 0] != merged[:-1, 0], True)
            merged = merged[last]
        self._table = np.ascontiguousarray(merged)
        self._chunks, self._recent, self._removed = [], {}, set()

    # -- snapshots ----------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write the links as a ``.npy`` array (no pickle); the names go in the caller's
        manifest."""
        self._merge(force=True)
        with open(path, "wb") as out:
            np.save(out, self._table, allow_pickle=False)

    @classmethod
    def open(cls, path: Path, names: Sequence[str]) -> VariantLinks:
        """Open saved links memory-mapped, checking shape, order and codes."""
        try:
            table = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as error:
            raise LinksError(f"variant links {path.name} are unreadable: {error}") from None
        if table.dtype != np.int64 or table.ndim != 2 or table.shape[1] != 3:
            raise LinksError(f"variant links {path.name} have the wrong shape or type")
        if table.shape[0]:
            ids, codes = table[:, 0], table[:, 2]
            if not bool(np.all(np.diff(ids) > 0)):
                raise LinksError(f"variant links {path.name} are not in id order")
            if int(codes.min()) < 0 or int(codes.max()) >= len(names):
                raise LinksError(f"variant links {path.name} name unknown variants")
        return cls(names, table)

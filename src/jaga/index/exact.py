"""ExactIndex: equality lookup of fixed-size digests (MD5, SHA-1, SHA-256) by entry id.

The same LSM segments as the Hamming index (rows sorted by id, tombstone bitmaps, geometric
merges, memory-mapped snapshots); the search structure of a segment is its rows ordered by a
64-bit key taken from the first digest bytes, found by binary search and confirmed on the full
digest. Cryptographic digests are uniform, so keys almost never collide, and when they do the full
comparison keeps the answer exact. Per entry: the digest, 8 bytes of id, 8 of key, 4 of order.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from jaga.index._inputs import as_ids, as_one, as_rows, check_same_length
from jaga.index.errors import IndexInputError, SnapshotError
from jaga.index.result import QueryResult, merge_parts
from jaga.index.segments import Extras, Segment, SegmentStore, dead_mask
from jaga.index.snapshot import read_snapshot, write_snapshot

_KIND = "exact"


def _keys(rows: NDArray[np.uint8]) -> NDArray[np.uint64]:
    """The first eight bytes of each digest as an integer (zero-padded for shorter digests)."""
    width = min(8, rows.shape[1])
    head = np.zeros((rows.shape[0], 8), dtype=np.uint8)
    head[:, :width] = rows[:, :width]
    return head.view("<u8").reshape(-1).astype(np.uint64)


class ExactIndex:
    """Exact-match index of ``size``-byte digests under int64 entry ids."""

    def __init__(self, size: int) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 1024:
            raise IndexInputError(f"digest size must be 1..1024 bytes, got {size!r}")
        self.size = size
        self._store = SegmentStore(size, _build)

    def add(self, ids: NDArray[Any] | Sequence[int], digests: NDArray[np.uint8]) -> None:
        """Add entries; an id already present is replaced."""
        id_arr = as_ids(ids)
        rows = as_rows(digests, self.size, "digests")
        check_same_length(id_arr, rows, "digests")
        self._store.add(id_arr, rows)

    def remove(self, ids: NDArray[Any] | Sequence[int]) -> int:
        """Remove entries by id, effective immediately; returns how many were present."""
        return self._store.remove(as_ids(ids))

    def __len__(self) -> int:
        return self._store.live

    def __contains__(self, entry_id: object) -> bool:
        if isinstance(entry_id, bool) or not isinstance(entry_id, int | np.integer):
            return False
        if not -(2**63) <= int(entry_id) < 2**63:
            return False
        return self._store.contains(int(entry_id))

    def compact(self) -> None:
        self._store.compact()

    def query(self, digests: NDArray[np.uint8]) -> QueryResult:
        """Entries whose digest equals each query row; distances are all 0."""
        queries = as_rows(digests, self.size, "digests")
        qkeys = _keys(queries)
        parts = []
        for seg in self._store.segments:
            if seg.live:
                parts.append(_query_segment(seg, queries, qkeys))
        return merge_parts(parts)

    def query_one(self, digest: bytes) -> list[int]:
        """Ids stored under one digest, ascending."""
        return [int(i) for i in self.query(as_one(digest, self.size, "digest")).ids]

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write a snapshot atomically (temporary file, then rename)."""
        write_snapshot(
            path,
            {"kind": _KIND, "size": self.size},
            [({"rows": s.rows}, s.arrays()) for s in self._store.segments],
        )

    @classmethod
    def open(
        cls, path: str | os.PathLike[str], *, mmap: bool = True, verify: bool = False
    ) -> ExactIndex:
        """Open a snapshot (memory-mapped by default); SnapshotError if it cannot be used."""
        snap = read_snapshot(path, _KIND, mmap=mmap, verify=verify)
        size = snap.meta.get("size")
        if not isinstance(size, int) or not 1 <= size <= 1024:
            raise SnapshotError(f"snapshot {path} is damaged: bad digest size {size!r}")
        index = cls(size)
        for meta, arrays in snap.segments:
            try:
                ids, data, tomb = arrays["ids"], arrays["data"], arrays["tomb"]
                keys, order = arrays["keys"], arrays["order"]
            except KeyError as e:
                raise SnapshotError(f"snapshot {path} is damaged: segment lacks {e}") from None
            n = ids.shape[0]
            if not (
                meta.get("rows") == n
                and ids.dtype == np.int64
                and data.shape == (n, size)
                and tomb.shape == ((n + 7) // 8,)
                and keys.shape == (n,)
                and keys.dtype == np.uint64
                and order.shape == (n,)
                and order.dtype == np.uint32
            ):
                raise SnapshotError(f"snapshot {path} is damaged: inconsistent segment arrays")
            seg = Segment(
                ids, data, {"keys": keys, "order": order}, tomb=np.array(tomb, dtype=np.uint8)
            )
            index._store.segments.append(seg)
        return index

    def memory_bytes(self) -> int:
        return self._store.nbytes()

    def stats(self) -> dict[str, int | float]:
        segs = self._store.segments
        rows = sum(s.rows for s in segs)
        return {
            "entries": len(self),
            "rows": rows,
            "tombstones": rows - len(self),
            "segments": len(segs),
            "memory_bytes": self.memory_bytes(),
        }

    def __repr__(self) -> str:
        return f"ExactIndex(size={self.size}, entries={len(self)})"


def _build(ids: NDArray[np.int64], data: NDArray[np.uint8]) -> Extras:
    keys = _keys(data)
    order = np.argsort(keys, kind="stable")
    return {"keys": np.ascontiguousarray(keys[order]), "order": order.astype(np.uint32)}


def _query_segment(
    seg: Segment, queries: NDArray[np.uint8], qkeys: NDArray[np.uint64]
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int32]]:
    keys, order = seg.extras["keys"], seg.extras["order"]
    lo = np.searchsorted(keys, qkeys, side="left")
    hi = np.searchsorted(keys, qkeys, side="right")
    counts = (hi - lo).astype(np.int64)
    total = int(counts.sum())
    qidx = np.repeat(np.arange(queries.shape[0], dtype=np.int64), counts)
    starts = np.repeat(lo.astype(np.int64) - np.concatenate(([0], np.cumsum(counts)[:-1])), counts)
    rows = order[starts + np.arange(total, dtype=np.int64)].astype(np.int64)
    same = np.all(seg.data[rows] == queries[qidx], axis=1) & ~dead_mask(seg.tomb, rows)
    qidx, rows = qidx[same], rows[same]
    # Rows with one key are in row (= id) order: the build sort is stable.
    return qidx, seg.ids[rows], np.zeros(rows.shape[0], dtype=np.int32)

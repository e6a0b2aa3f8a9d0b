"""HammingIndex: every stored hash within a Hamming radius of a query, exactly, fast, incrementally.

Entries are (int64 id, packed hash) pairs kept in LSM segments (see segments.py). Each segment big
enough to profit gets multi-index hashing tables (see layout.py for the layout and the exactness
argument, _hamming.c for the search); small segments, and radii for which probing would cost more
than reading every row, are scanned. Nothing is stored per hash but array cells: 32 bytes of hash,
8 of id, 4 per chunk table and a few for the table directories.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from jaga.index import _hamming
from jaga.index._inputs import (
    as_ids,
    as_one,
    as_radius,
    as_rows,
    as_threads,
    check_same_length,
)
from jaga.index.errors import IndexInputError, SnapshotError
from jaga.index.layout import Tuning, check_widths, choose_widths, offsets, plan
from jaga.index.result import QueryResult, merge_parts
from jaga.index.segments import Extras, Segment, SegmentStore
from jaga.index.snapshot import read_snapshot, write_snapshot

_KIND = "hamming"
_EMPTY_U32 = np.zeros(0, dtype=np.uint32)


class HammingIndex:
    """An exact Hamming-radius index over fixed-size binary hashes (256 bits for PDQ)."""

    def __init__(self, bits: int = 256, *, tuning: Tuning | None = None) -> None:
        if isinstance(bits, bool) or not isinstance(bits, int) or not 8 <= bits <= 1024:
            raise IndexInputError(f"bits must be a multiple of 8 from 8 to 1024, got {bits!r}")
        if bits % 8:
            raise IndexInputError(f"bits must be a multiple of 8 from 8 to 1024, got {bits}")
        self.bits = bits
        self.row_bytes = bits // 8
        # The native core reads 64-bit words: shorter hashes are stored zero-padded, which
        # changes no distance (queries are padded the same way).
        self._stored_bytes = -(-self.row_bytes // 8) * 8
        self.tuning = tuning or Tuning()
        if self.tuning.chunk_widths is not None:
            try:
                check_widths(self.tuning.chunk_widths, bits)
            except ValueError as e:
                raise IndexInputError(str(e)) from None
        self._store = SegmentStore(self._stored_bytes, self._build, self.tuning.merge_ratio)

    # ------------------------------------------------------------------ entries

    def add(self, ids: NDArray[Any] | Sequence[int], hashes: NDArray[np.uint8]) -> None:
        """Add entries; an id already present is replaced (its old hash no longer matches)."""
        id_arr = as_ids(ids)
        rows = as_rows(hashes, self.row_bytes)
        check_same_length(id_arr, rows, "hashes")
        self._store.add(id_arr, self._padded(rows))

    def remove(self, ids: NDArray[Any] | Sequence[int]) -> int:
        """Remove entries by id, effective for the next query; returns how many were present."""
        return self._store.remove(as_ids(ids))

    def __len__(self) -> int:
        return self._store.live

    def __contains__(self, entry_id: object) -> bool:
        if isinstance(entry_id, bool) or not isinstance(entry_id, int | np.integer):
            return False
        if not -(2**63) <= int(entry_id) < 2**63:
            return False
        return self._store.contains(int(entry_id))

    def get(self, entry_id: int) -> bytes | None:
        """The hash stored under an id, or None."""
        row = self._store.get(int(entry_id))
        return None if row is None else row[: self.row_bytes].tobytes()

    def compact(self) -> None:
        """Merge all segments into one and drop tombstones (queries get a little faster)."""
        self._store.compact()

    # ------------------------------------------------------------------ queries

    def query(
        self, hashes: NDArray[np.uint8], radius: int, *, threads: int | None = None
    ) -> QueryResult:
        """All (query row, id, distance) with distance <= radius, sorted by (row, distance, id).

        The batch runs without the GIL on ``threads`` cores (default: all).
        """
        queries = self._padded(as_rows(hashes, self.row_bytes, "queries"))
        r = as_radius(radius, self.bits)
        nthreads = as_threads(threads)
        parts = []
        for seg in self._store.segments:  # a list that writers replace, never change in place
            if seg.live == 0 or queries.shape[0] == 0:
                continue
            qi, rows, dist = _hamming.query(
                seg.data,
                self._stored_bytes,
                seg.tomb,
                self._chunk_plan(seg, r),
                seg.extras["directory"],
                seg.extras["table_rows"],
                queries,
                r,
                nthreads,
            )
            row_arr = np.frombuffer(rows, dtype=np.uint32)
            parts.append(
                (
                    np.frombuffer(qi, dtype=np.int64),
                    seg.ids[row_arr],
                    np.frombuffer(dist, dtype=np.int32),
                )
            )
        return merge_parts(parts)

    def query_one(self, hash: bytes, radius: int) -> list[tuple[int, int]]:
        """Matches of one hash as ``[(id, distance)]``, sorted by distance then id."""
        result = self.query(as_one(hash, self.row_bytes), radius, threads=1)
        return list(zip(result.ids.tolist(), result.distances.tolist(), strict=True))

    def _padded(self, rows: NDArray[np.uint8]) -> NDArray[np.uint8]:
        if self._stored_bytes == self.row_bytes:
            return rows
        out = np.zeros((rows.shape[0], self._stored_bytes), dtype=np.uint8)
        out[:, : self.row_bytes] = rows
        return out

    def _chunk_plan(self, seg: Segment, radius: int) -> NDArray[np.int32]:
        """int32 (offset, width, t) rows for the native search; empty means scan the segment."""
        key = ("plan", radius)
        cached = seg.cache.get(key)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        spec = seg.extras["chunks"]
        widths = tuple(int(w) for w in spec[:, 1])
        chosen = plan(widths, seg.rows, radius, self.tuning)
        if chosen is None:
            out = np.zeros((0, 3), dtype=np.int32)
        else:
            out = np.column_stack([spec, np.array(chosen[0], dtype=np.int32)]).astype(np.int32)
        seg.cache[key] = out
        return out

    # ------------------------------------------------------------------ tables

    def _build(self, ids: NDArray[np.int64], data: NDArray[np.uint8]) -> Extras:
        widths = choose_widths(ids.shape[0], self.bits, self.tuning)
        spec = np.array(list(zip(offsets(widths), widths, strict=True)), dtype=np.int32).reshape(
            -1, 2
        )
        directory = np.empty(sum((1 << w) + 1 for w in widths), dtype=np.uint32)
        table_rows = np.empty((len(widths), ids.shape[0]), dtype=np.uint32)
        if widths:
            _hamming.build_tables(data, self._stored_bytes, spec, directory, table_rows, 0)
        return {"chunks": spec, "directory": directory, "table_rows": table_rows}

    # ------------------------------------------------------------------ snapshots

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write a snapshot atomically (temporary file, then rename)."""
        write_snapshot(
            path,
            {"kind": _KIND, "bits": self.bits},
            [({"rows": s.rows}, s.arrays()) for s in self._store.segments],
        )

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        mmap: bool = True,
        verify: bool = False,
        tuning: Tuning | None = None,
    ) -> HammingIndex:
        """Open a snapshot, memory-mapped by default (pages load on first touch).

        Raises SnapshotError for a missing, truncated, damaged or foreign file; the remedy is to
        rebuild from the store. ``verify`` also checks every array's checksum (reads everything).
        """
        snap = read_snapshot(path, _KIND, mmap=mmap, verify=verify)
        bits = snap.meta.get("bits")
        if not isinstance(bits, int) or bits % 8 or not 8 <= bits <= 1024:
            raise SnapshotError(f"snapshot {path} is damaged: bad bit count {bits!r}")
        index = cls(bits, tuning=tuning)
        for seg_meta, arrays in snap.segments:
            index._store.segments.append(index._segment_from(arrays, seg_meta, path))
        return index

    def _segment_from(
        self, arrays: dict[str, NDArray[Any]], meta: dict[str, Any], path: object
    ) -> Segment:
        try:
            ids, data, tomb = arrays["ids"], arrays["data"], arrays["tomb"]
            spec, directory, rows = arrays["chunks"], arrays["directory"], arrays["table_rows"]
        except KeyError as e:
            raise SnapshotError(f"snapshot {path} is damaged: segment lacks {e}") from None
        n = ids.shape[0]
        ok = (
            meta.get("rows") == n
            and ids.dtype == np.int64
            and data.shape == (n, self._stored_bytes)
            and data.dtype == np.uint8
            and tomb.shape == ((n + 7) // 8,)
            and spec.dtype == np.int32
            and spec.ndim == 2
            and spec.shape[1] == 2
            and rows.shape == (spec.shape[0], n)
            and rows.dtype == np.uint32
            and directory.dtype == np.uint32
        )
        if ok:
            widths = tuple(int(w) for w in spec[:, 1])
            try:
                check_widths(widths, self.bits)
            except ValueError:
                ok = False
            ok = ok and tuple(int(o) for o in spec[:, 0]) == offsets(widths)
            ok = ok and directory.shape == (sum((1 << w) + 1 for w in widths),)
        if not ok:
            raise SnapshotError(f"snapshot {path} is damaged: inconsistent segment arrays")
        # Tombstones change after opening, so they are the one array copied into memory.
        extras = {"chunks": spec, "directory": directory, "table_rows": rows}
        return Segment(ids, data, extras, tomb=np.array(tomb, dtype=np.uint8))

    # ------------------------------------------------------------------ introspection

    def memory_bytes(self) -> int:
        """Bytes held in arrays (mapped pages count once touched; this counts them all)."""
        return self._store.nbytes()

    def stats(self) -> dict[str, int | float]:
        segs = self._store.segments
        rows = sum(s.rows for s in segs)
        live = self._store.live
        biggest = max(segs, key=lambda s: s.rows) if segs else None
        return {
            "entries": live,
            "rows": rows,
            "tombstones": rows - live,
            "segments": len(segs),
            "tables_in_largest_segment": 0
            if biggest is None
            else biggest.extras["chunks"].shape[0],
            "memory_bytes": self.memory_bytes(),
            "bytes_per_entry": self.memory_bytes() / live if live else 0.0,
        }

    def __repr__(self) -> str:
        segments = len(self._store.segments)
        return f"HammingIndex(bits={self.bits}, entries={len(self)}, segments={segments})"


def hamming_scan(
    hashes: NDArray[np.uint8],
    queries: NDArray[np.uint8],
    radius: int,
    *,
    threads: int | None = None,
) -> QueryResult:
    """Brute force: every (query row, row number, distance) within ``radius``, by a full scan.

    The reference the index is checked against, and the fallback for very large radii.
    """
    if not isinstance(hashes, np.ndarray) or hashes.ndim != 2:
        raise IndexInputError("hashes must be a 2-D uint8 array")
    row_bytes = hashes.shape[1]
    if not 1 <= row_bytes <= 128:
        raise IndexInputError(f"hash rows must be 1 to 128 bytes, got {row_bytes}")
    stored = -(-row_bytes // 8) * 8

    def padded(rows: NDArray[np.uint8]) -> NDArray[np.uint8]:
        if stored == row_bytes:
            return rows
        out = np.zeros((rows.shape[0], stored), dtype=np.uint8)
        out[:, :row_bytes] = rows
        return out

    data = padded(as_rows(hashes, row_bytes))
    q = padded(as_rows(queries, row_bytes, "queries"))
    r = as_radius(radius, row_bytes * 8)
    tomb = np.zeros((data.shape[0] + 7) // 8, dtype=np.uint8)
    qi, rows, dist = _hamming.query(
        data,
        stored,
        tomb,
        np.zeros((0, 3), dtype=np.int32),
        _EMPTY_U32,
        _EMPTY_U32,
        q,
        r,
        as_threads(threads),
    )
    return QueryResult(
        np.frombuffer(qi, dtype=np.int64),
        np.frombuffer(rows, dtype=np.uint32).astype(np.int64),
        np.frombuffer(dist, dtype=np.int32),
    )

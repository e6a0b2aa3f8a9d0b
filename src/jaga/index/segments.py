"""Rows of an index kept as LSM-style segments: immutable arrays plus a tombstone bitmap each.

Both indexes store their entries the same way, so the bookkeeping lives here once:

- a segment holds its rows sorted by entry id (``ids`` int64, ``data`` uint8 (n, row_bytes)), so
  an id is found by binary search with no extra map, and one bit per row marks it removed;
- an entry id is live in at most one row of one segment: adding an id that is already present
  tombstones the old row first, so "re-adding replaces" and removal is immediate;
- every add becomes a new segment; while the segment before the newest holds at most
  ``merge_ratio`` times as many live rows, the two are merged (tombstones dropped). Live sizes then
  shrink geometrically from oldest to newest, so there are O(log n) segments and each row is
  rewritten O(log n) times;
- each index kind derives its own search arrays ("extras") from a segment's ids and data through
  a builder, at creation and at every merge.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

Extras = dict[str, NDArray[Any]]
Builder = Callable[[NDArray[np.int64], NDArray[np.uint8]], Extras]


def tomb_bitmap(rows: int) -> NDArray[np.uint8]:
    return np.zeros((rows + 7) // 8, dtype=np.uint8)


def dead_mask(tomb: NDArray[np.uint8], rows: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Which of the given row numbers are tombstoned."""
    dead: NDArray[np.bool_] = ((tomb[rows >> 3] >> (rows & 7).astype(np.uint8)) & 1).astype(bool)
    return dead


class Segment:
    """One immutable run of rows sorted by id, with a mutable tombstone bitmap."""

    __slots__ = ("cache", "data", "extras", "ids", "live", "tomb")

    def __init__(
        self,
        ids: NDArray[np.int64],
        data: NDArray[np.uint8],
        extras: Extras,
        tomb: NDArray[np.uint8] | None = None,
    ) -> None:
        self.ids = ids
        self.data = data
        self.extras = extras
        self.tomb = tomb_bitmap(ids.shape[0]) if tomb is None else tomb
        self.live = ids.shape[0] - count_dead(self.tomb, ids.shape[0])
        self.cache: dict[Any, Any] = {}  # per-radius query plans, owned by the index kind

    @property
    def rows(self) -> int:
        return int(self.ids.shape[0])

    def locate(self, ids: NDArray[np.int64]) -> tuple[NDArray[np.bool_], NDArray[np.int64]]:
        """For each id: is it live here, and at which row (meaningful only where live)."""
        if self.rows == 0 or ids.shape[0] == 0:
            return np.zeros(ids.shape[0], dtype=bool), np.zeros(ids.shape[0], dtype=np.int64)
        pos = np.searchsorted(self.ids, ids).astype(np.int64)
        inside = pos < self.rows
        pos_c = np.where(inside, pos, 0)
        found = inside & (self.ids[pos_c] == ids)
        found &= ~dead_mask(self.tomb, pos_c)
        return found, pos_c

    def kill(self, rows: NDArray[np.int64]) -> None:
        """Tombstone live rows (callers pass each row once)."""
        if rows.shape[0] == 0:
            return
        bits = (np.uint8(1) << (rows & 7).astype(np.uint8)).astype(np.uint8)
        np.bitwise_or.at(self.tomb, rows >> 3, bits)
        self.live -= int(rows.shape[0])
        self.cache.clear()

    def live_rows(self) -> tuple[NDArray[np.int64], NDArray[np.uint8]]:
        if self.live == self.rows:
            return self.ids, self.data
        keep = np.flatnonzero(~dead_mask(self.tomb, np.arange(self.rows, dtype=np.int64)))
        return self.ids[keep], np.take(self.data, keep, axis=0)

    def arrays(self) -> dict[str, NDArray[Any]]:
        return {"ids": self.ids, "data": self.data, "tomb": self.tomb, **self.extras}

    def nbytes(self) -> int:
        return sum(int(a.nbytes) for a in self.arrays().values())


def count_dead(tomb: NDArray[np.uint8], rows: int) -> int:
    full = rows // 8
    dead = int(np.bitwise_count(tomb[:full]).sum())
    if rows % 8:
        dead += int(np.bitwise_count(tomb[full] & np.uint8((1 << (rows % 8)) - 1)))
    return dead


def id_order(ids: NDArray[np.int64]) -> NDArray[np.int64]:
    """A stable sorting permutation of ids.

    When the id span leaves room, (id - min, position) is packed into one uint64 and sorted with
    NumPy's vectorised sort, several times faster than a stable argsort; ties keep their order.
    """
    n = ids.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    pos_bits = max(1, (n - 1).bit_length())
    lo, hi = int(ids.min()), int(ids.max())
    if hi - lo >= 1 << (64 - pos_bits):
        return np.argsort(ids, kind="stable")
    keys = (ids - lo).astype(np.uint64) << np.uint64(pos_bits)
    keys |= np.arange(n, dtype=np.uint64)
    keys.sort()
    return (keys & np.uint64((1 << pos_bits) - 1)).astype(np.int64)


def sort_unique_last(
    ids: NDArray[np.int64], data: NDArray[np.uint8]
) -> tuple[NDArray[np.int64], NDArray[np.uint8]]:
    """Sort rows by id; where an id repeats within one batch, the last occurrence wins.

    Always returns fresh arrays: the index must not share memory with the caller's buffers.
    """
    if np.all(ids[1:] > ids[:-1]):
        return ids.copy(), np.array(data, order="C", copy=True)
    order = id_order(ids)
    sorted_ids = ids[order]
    last = np.ones(sorted_ids.shape[0], dtype=bool)
    last[:-1] = sorted_ids[1:] != sorted_ids[:-1]
    if not last.all():
        order, sorted_ids = order[last], sorted_ids[last]
    return sorted_ids, np.take(data, order, axis=0)


class SegmentStore:
    """The segments of one index and the rules that keep them few and tombstone-light."""

    def __init__(self, row_bytes: int, builder: Builder, merge_ratio: float = 2.0) -> None:
        self.row_bytes = row_bytes
        self.builder = builder
        self.merge_ratio = merge_ratio
        self.segments: list[Segment] = []

    @property
    def live(self) -> int:
        return sum(s.live for s in self.segments)

    def add(self, ids: NDArray[np.int64], data: NDArray[np.uint8]) -> None:
        if ids.shape[0] == 0:
            return
        ids, data = sort_unique_last(ids, data)
        segment = Segment(ids, data, self.builder(ids, data))  # the slow part, before any change
        self._kill(ids)
        self.segments = [*self.segments, segment]
        self._settle()

    def remove(self, ids: NDArray[np.int64]) -> int:
        return self._kill(np.unique(ids))

    def contains(self, entry_id: int) -> bool:
        probe = np.array([entry_id], dtype=np.int64)
        return any(bool(s.locate(probe)[0][0]) for s in self.segments)

    def get(self, entry_id: int) -> NDArray[np.uint8] | None:
        probe = np.array([entry_id], dtype=np.int64)
        for s in self.segments:
            found, pos = s.locate(probe)
            if found[0]:
                return np.array(s.data[int(pos[0])])
        return None

    def compact(self) -> None:
        """Merge everything into one segment without tombstones (or none, if empty)."""
        if len(self.segments) == 1 and self.segments[0].live == self.segments[0].rows:
            return
        live = [s for s in self.segments if s.live]
        self.segments = [self._merge(live)] if live else []

    def _kill(self, sorted_unique_ids: NDArray[np.int64]) -> int:
        killed = 0
        for s in self.segments:
            found, pos = s.locate(sorted_unique_ids)
            if found.any():
                s.kill(pos[found])
                killed += int(found.sum())
        return killed

    def _settle(self) -> None:
        # Build the new list aside and swap it in, so a reader holding the old list sees a
        # consistent set of segments.
        segs = [s for s in self.segments if s.live]
        while len(segs) >= 2 and segs[-2].live <= self.merge_ratio * segs[-1].live:
            segs = [*segs[:-2], self._merge(segs[-2:])]
        self.segments = segs

    def _merge(self, parts: list[Segment]) -> Segment:
        live = [s.live_rows() for s in parts]
        ids = np.concatenate([p[0] for p in live])
        data = np.concatenate([p[1] for p in live])
        if len(parts) > 1:  # ids are disjoint across parts, so any sorting permutation will do
            order = id_order(ids)
            ids, data = ids[order], np.take(data, order, axis=0)
        return Segment(ids, data, self.builder(ids, data))

    def nbytes(self) -> int:
        return sum(s.nbytes() for s in self.segments)

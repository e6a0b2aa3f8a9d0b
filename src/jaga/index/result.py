"""What a query returns: three parallel arrays, one row per (query, match), in a fixed order."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True, eq=False)
class QueryResult:
    """Matches of a batch of queries, sorted by (query_index, distance, id).

    Arrays rather than objects per match, so a batch of a million queries costs three arrays.
    """

    query_index: NDArray[np.int64]
    ids: NDArray[np.int64]
    distances: NDArray[np.int32]

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def for_query(self, i: int) -> list[tuple[int, int]]:
        """The matches of query row ``i`` as ``[(id, distance)]``, nearest first."""
        lo, hi = np.searchsorted(self.query_index, [i, i + 1])
        return [
            (int(a), int(b))
            for a, b in zip(self.ids[lo:hi].tolist(), self.distances[lo:hi].tolist(), strict=True)
        ]

    @classmethod
    def empty(cls) -> QueryResult:
        return cls(
            np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32)
        )


def merge_parts(
    parts: list[tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int32]]],
) -> QueryResult:
    """Join per-segment results (each already sorted) into one sorted result."""
    parts = [p for p in parts if p[0].shape[0]]
    if not parts:
        return QueryResult.empty()
    if len(parts) == 1:
        q, ids, d = parts[0]
        return QueryResult(q, ids, d)
    q = np.concatenate([p[0] for p in parts])
    ids = np.concatenate([p[1] for p in parts])
    d = np.concatenate([p[2] for p in parts])
    order = np.lexsort((ids, d, q))
    return QueryResult(q[order], ids[order], d[order])

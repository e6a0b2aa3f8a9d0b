"""Helpers for index tests: a brute-force reference and hash generators with planted neighbours."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pytest
from numpy.typing import NDArray

Match = tuple[int, int, int]  # (query row, id, distance)


def brute_force(entries: dict[int, bytes], queries: NDArray[np.uint8], radius: int) -> list[Match]:
    """Every (query, id, distance) within radius, sorted like QueryResult."""
    if not entries or queries.shape[0] == 0:
        return []
    ids = np.array(sorted(entries), dtype=np.int64)
    rows = np.frombuffer(b"".join(entries[i] for i in ids.tolist()), dtype=np.uint8)
    rows = rows.reshape(len(ids), -1)
    dist = np.bitwise_count(queries[:, None, :] ^ rows[None, :, :]).sum(axis=2)
    out = [
        (int(q), int(ids[j]), int(dist[q, j]))
        for q in range(queries.shape[0])
        for j in np.nonzero(dist[q] <= radius)[0]
    ]
    return sorted(out, key=lambda m: (m[0], m[2], m[1]))


def flip_bits(row: NDArray[np.uint8], count: int, rng: np.random.Generator) -> NDArray[np.uint8]:
    """A copy of ``row`` with exactly ``count`` distinct bits flipped."""
    out = row.copy()
    for b in rng.choice(row.shape[0] * 8, size=count, replace=False):
        out[b // 8] ^= np.uint8(1 << (b % 8))
    return out


def as_matches(result: object) -> list[Match]:
    q = result.query_index.tolist()  # type: ignore[attr-defined]
    i = result.ids.tolist()  # type: ignore[attr-defined]
    d = result.distances.tolist()  # type: ignore[attr-defined]
    return list(zip(q, i, d, strict=True))


def stack(rows: Iterable[bytes], width: int = 32) -> NDArray[np.uint8]:
    data = b"".join(rows)
    return np.frombuffer(data, dtype=np.uint8).reshape(-1, width).copy()


@pytest.fixture(scope="session")
def brute() -> Callable[[dict[int, bytes], NDArray[np.uint8], int], list[Match]]:
    return brute_force


@pytest.fixture(scope="session")
def flip() -> Callable[[NDArray[np.uint8], int, np.random.Generator], NDArray[np.uint8]]:
    return flip_bits


@pytest.fixture(scope="session")
def matches() -> Callable[[object], list[Match]]:
    return as_matches

"""Segment bookkeeping: id ordering, last-wins dedup, tombstones, and the merge policy."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from jaga.index.segments import SegmentStore, id_order, sort_unique_last

int64s = st.integers(-(2**63), 2**63 - 1)


@settings(max_examples=200, deadline=None)
@given(
    ids=st.one_of(
        arrays(np.int64, st.integers(0, 300), elements=st.integers(-50, 50)),
        arrays(np.int64, st.integers(0, 300), elements=int64s),
    )
)
def test_id_order_is_a_stable_argsort(ids: np.ndarray) -> None:
    assert np.array_equal(id_order(ids), np.argsort(ids, kind="stable"))


@settings(max_examples=100, deadline=None)
@given(ids=arrays(np.int64, st.integers(1, 100), elements=st.integers(0, 20)))
def test_last_occurrence_wins(ids: np.ndarray) -> None:
    data = np.arange(ids.shape[0], dtype=np.uint8).reshape(-1, 1).repeat(8, axis=1)
    out_ids, out_data = sort_unique_last(ids, data)
    last = {int(i): k for k, i in enumerate(ids.tolist())}
    assert out_ids.tolist() == sorted(last)
    assert out_data[:, 0].tolist() == [last[i] for i in sorted(last)]


def _store(ratio: float = 2.0) -> SegmentStore:
    return SegmentStore(8, lambda ids, data: {}, ratio)


def test_segment_sizes_shrink_geometrically_whatever_the_batch_sizes() -> None:
    store = _store()
    rng = np.random.default_rng(0)
    start = 0
    for size in rng.integers(1, 300, size=200).tolist():
        ids = np.arange(start, start + size, dtype=np.int64)
        store.add(ids, np.zeros((size, 8), dtype=np.uint8))
        start += size
        lives = [s.live for s in store.segments]
        assert all(a > 2 * b for a, b in itertools.pairwise(lives))
    assert store.live == start
    assert len(store.segments) <= start.bit_length()


def test_tombstones_are_dropped_by_merges_and_compaction() -> None:
    store = _store()
    store.add(np.arange(100, dtype=np.int64), np.zeros((100, 8), dtype=np.uint8))
    assert store.remove(np.arange(0, 100, 2, dtype=np.int64)) == 50
    assert store.segments[0].rows == 100
    assert store.segments[0].live == 50
    store.compact()
    assert [s.rows for s in store.segments] == [50]
    assert store.contains(1)
    assert not store.contains(2)


def test_a_fully_removed_segment_disappears_on_the_next_add() -> None:
    store = _store(ratio=0.0)
    store.add(np.arange(10, dtype=np.int64), np.zeros((10, 8), dtype=np.uint8))
    store.remove(np.arange(10, dtype=np.int64))
    store.add(np.array([99], dtype=np.int64), np.ones((1, 8), dtype=np.uint8))
    assert [s.rows for s in store.segments] == [1]

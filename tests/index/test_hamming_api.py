"""HammingIndex behaviour a caller relies on: replacement, removal, sizes, ordering, threads."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from jaga.index import HammingIndex, QueryResult, Tuning, hamming_scan

SMALL_TABLES = Tuning(chunk_widths=(8,) * 16, always_probe=True, min_table_rows=0)


def _rows(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 32), dtype=np.uint8)


def test_re_adding_an_id_replaces_its_hash() -> None:
    index = HammingIndex(tuning=SMALL_TABLES)
    a, b = _rows(2)
    index.add(np.array([7]), a[None])
    index.add(np.array([7]), b[None])
    assert len(index) == 1
    assert index.query_one(a.tobytes(), 0) == []
    assert index.query_one(b.tobytes(), 0) == [(7, 0)]
    assert index.get(7) == b.tobytes()


def test_last_duplicate_id_in_one_batch_wins() -> None:
    index = HammingIndex()
    rows = _rows(3)
    index.add([5, 5, 6], rows)
    assert len(index) == 2
    assert index.get(5) == rows[1].tobytes()


def test_remove_counts_present_ids_once_and_takes_effect_now() -> None:
    index = HammingIndex(tuning=SMALL_TABLES)
    rows = _rows(4)
    index.add(np.arange(4), rows)
    assert index.remove([1, 1, 2, 99]) == 2
    assert len(index) == 2
    assert 1 not in index
    assert 0 in index
    assert index.query_one(rows[1].tobytes(), 0) == []
    assert index.remove(np.array([1], dtype=np.uint16)) == 0


def test_same_hash_under_many_ids_all_match_sorted_by_distance_then_id() -> None:
    index = HammingIndex(tuning=SMALL_TABLES)
    base = _rows(1)[0]
    near = base.copy()
    near[0] ^= 0b111
    index.add([30, 10, 20, 5], np.array([base, base, base, near]))
    assert index.query_one(base.tobytes(), 3) == [(10, 0), (20, 0), (30, 0), (5, 3)]
    assert index.query_one(base.tobytes(), 2) == [(10, 0), (20, 0), (30, 0)]


def test_batch_result_is_sorted_by_query_distance_id_across_segments() -> None:
    index = HammingIndex(tuning=Tuning(merge_ratio=0.0, min_table_rows=0, chunk_widths=(16,) * 8))
    rows = _rows(50, seed=3)
    for i in range(0, 50, 10):  # merge_ratio 0 never merges: five segments
        index.add(np.arange(i, i + 10), rows[i : i + 10])
    assert index.stats()["segments"] == 5
    queries = np.concatenate([rows[::7], rows[::7]])
    result = index.query(queries, 256)
    key = np.lexsort((result.ids, result.distances, result.query_index))
    assert np.array_equal(key, np.arange(len(result)))
    assert len(result) == queries.shape[0] * 50
    assert result.for_query(0)[0] == (0, 0)


def test_threads_do_not_change_the_answer() -> None:
    rows = _rows(3000, seed=4)
    index = HammingIndex()
    index.add(np.arange(3000), rows)
    queries = rows[:200] ^ np.uint8(1)
    one = index.query(queries, 40, threads=1)
    two = index.query(queries, 40, threads=2)
    assert np.array_equal(one.ids, two.ids)
    assert np.array_equal(one.query_index, two.query_index)
    assert len(one) == 200


def test_empty_index_and_empty_batch() -> None:
    index = HammingIndex()
    assert len(index) == 0
    assert len(index.query(_rows(3), 31)) == 0
    index.add(np.zeros(0, dtype=np.int64), np.zeros((0, 32), dtype=np.uint8))
    index.add([1], _rows(1))
    result = index.query(np.zeros((0, 32), dtype=np.uint8), 31)
    assert isinstance(result, QueryResult)
    assert len(result) == 0
    assert result.ids.dtype == np.int64
    assert result.distances.dtype == np.int32


def test_removing_everything_then_compacting_leaves_no_segments() -> None:
    index = HammingIndex()
    index.add(np.arange(10), _rows(10))
    index.remove(np.arange(10))
    index.compact()
    assert index.stats()["segments"] == 0
    assert len(index) == 0


def test_caller_buffers_are_copied() -> None:
    index = HammingIndex()
    rows = _rows(2)
    ids = np.array([1, 2])
    index.add(ids, rows)
    original = rows[0].tobytes()
    rows[0] ^= 0xFF
    ids[0] = 99
    assert index.get(1) == original
    assert 99 not in index


def test_ids_may_be_any_int64_including_negative() -> None:
    index = HammingIndex()
    ids = np.array([-(2**63), -1, 0, 2**63 - 1])
    index.add(ids, _rows(4))
    assert all(int(i) in index for i in ids)
    assert 2**63 not in index
    assert "1" not in index


def test_other_widths_than_256_bits() -> None:
    index = HammingIndex(bits=64, tuning=Tuning(chunk_widths=(8,) * 8, always_probe=True))
    rows = np.random.default_rng(1).integers(0, 256, size=(100, 8), dtype=np.uint8)
    index.add(np.arange(100), rows)
    got = index.query(rows[:5], 10)
    ref = hamming_scan(rows, rows[:5], 10)
    assert np.array_equal(got.ids, ref.ids)
    assert np.array_equal(got.distances, ref.distances)


@pytest.mark.parametrize("bits", [16, 24, 72])
def test_hashes_shorter_than_a_word_are_padded_invisibly(
    bits: int, brute: Any, matches: Any
) -> None:
    size = bits // 8
    rows = np.random.default_rng(bits).integers(0, 256, size=(400, size), dtype=np.uint8)
    rows[1] = rows[0]
    index = HammingIndex(bits, tuning=Tuning(chunk_widths=(4, 4, 8), always_probe=True))
    index.add(np.arange(400), rows)
    assert index.get(3) == rows[3].tobytes()
    model = {i: rows[i].tobytes() for i in range(400)}
    for radius in (0, 2, bits // 4, bits):
        assert matches(index.query(rows[:6], radius)) == brute(model, rows[:6], radius)
        assert matches(hamming_scan(rows, rows[:6], radius)) == brute(model, rows[:6], radius)


def test_hamming_scan_matches_numpy(brute: Any, matches: Any) -> None:
    rows = _rows(300, seed=9)
    queries = _rows(7, seed=10)
    queries[:3] = rows[:3] ^ np.uint8(3)
    model = {i: rows[i].tobytes() for i in range(300)}
    for radius in (0, 24, 100, 128, 256):
        assert matches(hamming_scan(rows, queries, radius)) == brute(model, queries, radius)


def test_large_segments_get_tables_and_small_ones_do_not() -> None:
    index = HammingIndex()
    index.add(np.arange(100), _rows(100))
    assert index.stats()["tables_in_largest_segment"] == 0
    big = HammingIndex()
    big.add(np.arange(70_000), _rows(70_000, seed=2))
    stats = big.stats()
    assert stats["tables_in_largest_segment"] >= 8
    # Tables get 56 bytes per row, or 32 MiB in all for small segments like this one.
    assert stats["memory_bytes"] <= 70_000 * 40.2 + max(70_000 * 56, 32 << 20)


def test_default_layout_on_a_large_segment_is_exact_at_every_radius() -> None:
    """70,000 rows: the partitioned table build, the planner's own layout, and the scan fallback."""
    rng = np.random.default_rng(8)
    rows = _rows(70_000, seed=6)
    queries = rows[rng.integers(0, 70_000, size=40)].copy()
    flips = rng.integers(0, 256, size=(40, 40))
    for q, bits in zip(queries, flips, strict=True):
        for b in bits[: rng.integers(0, 40)]:
            q[b // 8] ^= np.uint8(1 << (b % 8))
    index = HammingIndex()
    index.add(np.arange(70_000) * 2, rows)
    for radius in (0, 10, 31, 40, 64, 100, 256):
        got = index.query(queries, radius)
        ref = hamming_scan(rows, queries, radius)
        assert np.array_equal(got.query_index, ref.query_index)
        assert np.array_equal(got.ids, ref.ids * 2)
        assert np.array_equal(got.distances, ref.distances)


def test_merges_keep_segments_few_and_geometric() -> None:
    index = HammingIndex()
    rows = _rows(2000, seed=5)
    for i in range(0, 2000, 7):
        index.add(np.arange(i, min(i + 7, 2000)), rows[i : i + 7])
    segments = index._store.segments
    lives = [s.live for s in segments]
    assert len(segments) <= 12
    assert all(a > 2 * b for a, b in itertools.pairwise(lives))
    assert len(index) == 2000

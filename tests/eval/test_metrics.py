"""Distances, thresholds, recall and unrelated-pair statistics on hand-made hash sets."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaga.eval.methods import HashSet
from jaga.eval.metrics import (
    compute_distances,
    precision_at,
    quantile_from_histogram,
    recall_by_group,
    threshold_at_precision,
    unrelated_stats,
)


def hashes(*rows: list[int]) -> HashSet:
    """A 64-bit hash set whose rows have the given bits set."""
    values = np.zeros((len(rows), 8), dtype=np.uint8)
    for i, bits in enumerate(rows):
        for bit in bits:
            values[i, bit // 8] |= 1 << (7 - bit % 8)
    return HashSet(values, tuple(str(i) for i in range(len(rows))))


def test_pair_distance_is_the_closest_variant_pair() -> None:
    bank = [hashes([], list(range(40))), hashes(list(range(64)))]
    queries = [hashes([0, 1, 2], list(range(38))), hashes(list(range(60)))]
    d = compute_distances(bank, queries, [0, 1], bits=64)
    assert d.pair.tolist() == [[2, 26], [20, 4]]
    assert d.positives().tolist() == [2, 4]
    assert sorted(d.negatives().tolist()) == [20, 26]
    # unrelated hash pairs: query 0 (2 rows) x bank 1 (1 row), query 1 (1) x bank 0 (2)
    assert d.unrelated_comparisons == 4
    assert np.flatnonzero(d.unrelated_histogram).tolist() == [20, 26, 60, 61]


def test_empty_sets_never_match() -> None:
    bank = [hashes([1]), HashSet(np.zeros((0, 8), np.uint8), ())]
    d = compute_distances(
        bank, [HashSet(np.zeros((0, 8), np.uint8), ()), hashes([1])], [0, 1], bits=64
    )
    assert d.pair.tolist() == [[65, 65], [0, 65]]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 2**64 - 1), min_size=0, max_size=3), min_size=2, max_size=5),
    st.lists(st.lists(st.integers(0, 2**64 - 1), min_size=0, max_size=4), min_size=1, max_size=6),
    st.data(),
)
def test_distances_equal_brute_force(
    bank_ints: list[list[int]], query_ints: list[list[int]], data: st.DataObject
) -> None:
    def as_set(values: list[int]) -> HashSet:
        raw = b"".join(v.to_bytes(8, "big") for v in values)
        return HashSet(np.frombuffer(raw, np.uint8).reshape(-1, 8).copy(), ("",) * len(values))

    bank = [as_set(v) for v in bank_ints]
    queries = [as_set(v) for v in query_ints]
    source = [data.draw(st.integers(0, len(bank) - 1)) for _ in queries]
    d = compute_distances(bank, queries, source, bits=64)
    histogram = np.zeros(65, np.int64)
    for qi, qvals in enumerate(query_ints):
        for bi, bvals in enumerate(bank_ints):
            pairs = [(a ^ b).bit_count() for a in qvals for b in bvals]
            assert d.pair[qi, bi] == (min(pairs) if pairs else 65)
            if bi != source[qi]:
                for p in pairs:
                    histogram[p] += 1
    assert np.array_equal(d.unrelated_histogram, histogram)


def _distances(positives: list[int], negatives: list[list[int]]) -> object:
    """Queries i (source i) with the given own distance and distances to other originals."""
    n = len(positives)
    pair = np.zeros((n, len(negatives[0]) + 1), dtype=np.int16)
    for i in range(n):
        others = iter(negatives[i])
        for j in range(pair.shape[1]):
            pair[i, j] = positives[i] if j == i else next(others)
    return pair


def test_threshold_is_the_largest_at_the_precision() -> None:
    from jaga.eval.metrics import Distances

    pair = _distances([3, 10, 40], [[90, 35], [80, 100], [95, 50]])
    d = Distances(pair, np.arange(3), 64, np.zeros(65, np.int64))
    # the nearest unrelated pair is at 35: any threshold >= 35 lets a false match in
    assert threshold_at_precision(d, 0.9999) == 34
    assert precision_at(d, 34) == 1.0
    assert precision_at(d, 40) == pytest.approx(3 / 4)
    # a looser precision target accepts that one false match
    assert threshold_at_precision(d, 0.75) == 49
    recall = recall_by_group(d, ["a", "a", "b"], 34)
    assert recall == {"a": 1.0, "b": 0.0}


def test_no_threshold_reaches_the_precision() -> None:
    from jaga.eval.metrics import Distances

    pair = np.array([[50, 1], [2, 50]], dtype=np.int16)
    d = Distances(pair, np.arange(2), 64, np.zeros(65, np.int64))
    assert threshold_at_precision(d, 0.9999) == -1


def test_quantiles_and_unrelated_stats() -> None:
    histogram = np.zeros(65, np.int64)
    histogram[[10, 20, 30]] = [2, 9_998, 10_000]
    assert quantile_from_histogram(histogram, 1e-4) == 10
    assert quantile_from_histogram(histogram, 0.5) == 20
    assert quantile_from_histogram(np.zeros(65, np.int64), 0.5) == -1

    from jaga.eval.metrics import Distances

    pair = _distances([3, 10, 40], [[90, 35], [80, 100], [95, 50]])
    d = Distances(pair, np.arange(3), 64, histogram)
    stats = unrelated_stats(d, production=31, chosen=34)
    assert stats.pairs == 6
    assert stats.comparisons == 20_000
    assert stats.hash_min == 10
    assert stats.hash_q0001 == 10
    assert stats.pair_q0001 == 35
    assert stats.matched_at_production == 0
    assert stats.matched_at_chosen == 0
    assert unrelated_stats(d, production=40, chosen=50).matched_at_production == 1

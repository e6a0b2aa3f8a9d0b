"""Distances, thresholds and recall: the arithmetic of the robustness benchmark.

Every transformed image (a *query*) is compared with every original (a *bank image*). For a
method with several hashes per side, the distance of a (query, original) pair is the smallest
distance over all pairs of their hashes, which is what an index holding every bank-side hash
answers. A pair is *related* when the query was made from that original.

Like Thorn's ``perception`` benchmark, we pick for each method the largest threshold at which
precision over all (query, original) pairs is still at least 99.99%, and report recall per
transform there; and, separately, at the method's production threshold. We also keep the full
distribution of distances between hashes of unrelated images, variant against variant, because
every extra variant is an extra chance of a false match.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from jaga.eval.methods import HashSet

I64 = NDArray[np.int64]

#: Rows of query hashes compared with the whole bank at once (bounds memory, not results).
_CHUNK_ROWS = 2048


@dataclass(frozen=True)
class Distances:
    """``pair`` is (queries, originals): the smallest hash distance of each pair, or bits + 1
    when either side has no usable hash. ``unrelated_histogram[d]`` counts hash pairs at
    distance d between a query and an original it was not made from."""

    pair: NDArray[np.int16]
    source: I64
    bits: int
    unrelated_histogram: I64

    @property
    def unrelated_comparisons(self) -> int:
        return int(self.unrelated_histogram.sum())

    def positives(self) -> NDArray[np.int16]:
        return np.asarray(self.pair[np.arange(self.pair.shape[0]), self.source])

    def negatives(self) -> NDArray[np.int16]:
        mask = np.ones(self.pair.shape, dtype=bool)
        mask[np.arange(self.pair.shape[0]), self.source] = False
        return np.asarray(self.pair[mask])


def _words(values: NDArray[np.uint8]) -> NDArray[np.uint64]:
    """Hash bytes as 64-bit words (hash sizes are multiples of 8 bytes)."""
    return np.ascontiguousarray(values).view(np.uint64)


def compute_distances(
    bank: Sequence[HashSet], queries: Sequence[HashSet], source: Sequence[int], bits: int
) -> Distances:
    """All (query, original) minimum distances and the unrelated hash-pair histogram."""
    n_bank, n_queries = len(bank), len(queries)
    source_arr = np.asarray(source, dtype=np.int64)
    size = bits // 8
    bank_rows = np.concatenate([b.values for b in bank] + [np.zeros((0, size), np.uint8)])
    bank_owner = np.repeat(np.arange(n_bank), [len(b) for b in bank])
    bank_words = _words(bank_rows)
    owners_present = np.flatnonzero(np.bincount(bank_owner, minlength=n_bank) > 0)
    owner_starts = np.searchsorted(bank_owner, owners_present)

    pair = np.full((n_queries, n_bank), bits + 1, dtype=np.int16)
    histogram = np.zeros(bits + 1, dtype=np.int64)
    if bank_rows.shape[0] == 0:
        return Distances(pair, source_arr, bits, histogram)

    start = 0
    while start < n_queries:
        stop, rows = start, 0
        while stop < n_queries and (rows == 0 or rows + len(queries[stop]) <= _CHUNK_ROWS):
            rows += len(queries[stop])
            stop += 1
        chunk_sets = queries[start:stop]
        counts = np.array([len(q) for q in chunk_sets])
        if counts.sum() > 0:
            query_words = _words(np.concatenate([q.values for q in chunk_sets if len(q)]))
            xor = query_words[:, None, :] ^ bank_words[None, :, :]
            dist = np.bitwise_count(xor).sum(axis=2, dtype=np.int16)
            row_query = np.repeat(np.arange(start, stop), counts)
            unrelated = bank_owner[None, :] != source_arr[row_query][:, None]
            histogram += np.bincount(dist[unrelated], minlength=bits + 1)[: bits + 1]
            by_owner = np.minimum.reduceat(dist, owner_starts, axis=1)
            present = np.flatnonzero(counts > 0)
            query_starts = np.concatenate(([0], np.cumsum(counts[present])[:-1]))
            by_query = np.minimum.reduceat(by_owner, query_starts, axis=0)
            block = pair[start:stop]
            block[np.ix_(present, owners_present)] = by_query
        start = stop
    return Distances(pair, source_arr, bits, histogram)


def threshold_at_precision(distances: Distances, precision: float = 0.9999) -> int:
    """The largest threshold whose precision over all pairs is at least ``precision``.

    Recall only grows with the threshold, so this is the threshold of best recall at that
    precision. Returns -1 when no threshold reaches it.
    """
    bins = distances.bits + 2
    positives = np.bincount(distances.positives().astype(np.int64), minlength=bins)
    negatives = np.bincount(distances.negatives().astype(np.int64), minlength=bins)
    true_pos = np.cumsum(positives)[: distances.bits + 1]
    false_pos = np.cumsum(negatives)[: distances.bits + 1]
    flagged = true_pos + false_pos
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(flagged > 0, true_pos / np.maximum(flagged, 1), 1.0)
    ok = np.flatnonzero((ratio >= precision) & (true_pos > 0))
    return int(ok.max()) if ok.size else -1


def precision_at(distances: Distances, threshold: int) -> float:
    true_pos = int((distances.positives() <= threshold).sum())
    false_pos = int((distances.negatives() <= threshold).sum())
    return 1.0 if true_pos + false_pos == 0 else true_pos / (true_pos + false_pos)


def recall_by_group(
    distances: Distances, groups: Sequence[str], threshold: int
) -> dict[str, float]:
    """Share of queries matched to their own original at ``threshold``, per group label."""
    hits = distances.positives() <= threshold
    labels = np.asarray(groups)
    return {str(label): float(hits[labels == label].mean()) for label in dict.fromkeys(groups)}


def quantile_from_histogram(histogram: I64, q: float) -> int:
    """The smallest distance d with at least a share ``q`` of the counts at or below d."""
    total = int(histogram.sum())
    if total == 0:
        return -1
    cumulative = np.cumsum(histogram)
    return int(np.searchsorted(cumulative, max(1.0, q * total)))


@dataclass(frozen=True)
class UnrelatedStats:
    """How close unrelated images come, for one method."""

    pairs: int  # (query, original) pairs that are unrelated
    comparisons: int  # hash pairs behind them (variants x variants)
    hash_min: int  # smallest distance between any two unrelated hashes
    hash_q0001: int  # 0.01% quantile of those distances
    pair_q0001: int  # 0.01% quantile of per-pair minimum distances
    matched_at_production: int  # unrelated pairs within the production threshold
    matched_at_chosen: int  # unrelated pairs within the data-chosen threshold


def unrelated_stats(distances: Distances, production: int, chosen: int) -> UnrelatedStats:
    negatives = distances.negatives()
    histogram = distances.unrelated_histogram
    usable = negatives[negatives <= distances.bits]
    nonzero = np.flatnonzero(histogram)
    return UnrelatedStats(
        pairs=int(negatives.size),
        comparisons=distances.unrelated_comparisons,
        hash_min=int(nonzero[0]) if nonzero.size else -1,
        hash_q0001=quantile_from_histogram(histogram, 1e-4),
        pair_q0001=int(np.quantile(usable, 1e-4, method="lower")) if usable.size else -1,
        matched_at_production=int((negatives <= production).sum()),
        matched_at_chosen=int((negatives <= chosen).sum()),
    )

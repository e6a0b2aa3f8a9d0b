"""What a method costs: hashes per image on each side, index size, time per query.

Hashing time is measured while the benchmark hashes its queries (same machine, same run, plain
PDQ included), so ratios between methods are fair even on a busy machine; absolute times are not.
Lookup time is measured on Jaga's exact Hamming index filled with random hashes to a chosen bank
size (times the method's hashes per bank image), querying each sampled upload's hashes as one
batch on one thread. Random hashes are kinder to the index than real banks (which cluster), so
lookups here are a lower bound; hashing dominates either way.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from jaga.eval.methods import HashSet
from jaga.index import HammingIndex


@dataclass(frozen=True)
class Cost:
    bank_hashes_mean: float
    bank_hashes_max: int
    query_hashes_mean: float
    query_hashes_max: int
    hash_ms_mean: float
    hash_ms_median: float
    hash_ms_p95: float
    index_entries: int
    lookup_ms_mean: float

    @property
    def query_ms(self) -> float:
        """Mean time per query: hashing plus lookup (what throughput depends on)."""
        return self.hash_ms_mean + self.lookup_ms_mean


def lookup_ms(
    queries: Sequence[HashSet],
    bits: int,
    threshold: int,
    entries: int,
    samples: int = 200,
    seed: int = 0,
) -> float:
    """Mean milliseconds to look up one upload's hashes (one batch) in an index of
    ``entries`` random hashes."""
    if entries <= 0 or not queries:
        return 0.0
    rng = np.random.default_rng(seed)
    index = HammingIndex(bits)
    data = rng.integers(0, 256, size=(entries, bits // 8), dtype=np.uint8)
    index.add(np.arange(entries, dtype=np.int64), data)
    index.compact()
    picks = rng.choice(len(queries), size=min(samples, len(queries)), replace=False)
    times = []
    for i in picks:
        values = queries[int(i)].values
        if values.shape[0] == 0:
            continue
        begin = time.perf_counter()
        index.query(values, threshold, threads=1)
        times.append(time.perf_counter() - begin)
    return float(np.mean(times) * 1e3) if times else 0.0


def summarise(
    bank: Sequence[HashSet],
    queries: Sequence[HashSet],
    query_seconds: Sequence[float],
    bits: int,
    threshold: int,
    bank_size: int,
    seed: int = 0,
) -> Cost:
    bank_counts = np.array([len(b) for b in bank]) if bank else np.zeros(1)
    query_counts = np.array([len(q) for q in queries]) if queries else np.zeros(1)
    seconds = np.asarray(query_seconds) if query_seconds else np.zeros(1)
    entries = round(bank_size * float(bank_counts.mean()))
    return Cost(
        bank_hashes_mean=float(bank_counts.mean()),
        bank_hashes_max=int(bank_counts.max()),
        query_hashes_mean=float(query_counts.mean()),
        query_hashes_max=int(query_counts.max()),
        hash_ms_mean=float(np.mean(seconds) * 1e3),
        hash_ms_median=float(np.median(seconds) * 1e3),
        hash_ms_p95=float(np.percentile(seconds, 95) * 1e3),
        index_entries=entries,
        lookup_ms_mean=lookup_ms(queries, bits, threshold, entries, seed=seed),
    )

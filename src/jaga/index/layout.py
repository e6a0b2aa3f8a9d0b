"""Where the chunk boundaries go, and how far each chunk is probed for a radius.

Multi-index hashing splits each hash into m disjoint chunks of bits. If two hashes are within
Hamming distance r and the per-chunk radii t_i satisfy ``sum(t_i + 1) >= r + 1``, then on at least
one chunk they differ in at most t_i bits (otherwise every chunk differs in t_i + 1 or more, and the
total exceeds r). Probing each chunk table with every key within t_i bits of the query's chunk
therefore finds every neighbour. A chunk may have t_i = -1 (not probed), and bits outside every
chunk are allowed: both only weaken the sum, never the argument.

Everything else is a cost trade, decided by a small model in nanoseconds on one core: a probe key
costs a directory lookup and a bucket read, a candidate costs a random read of its row, a scan costs
a sequential read per row. The constants were fitted to timings of forced layouts on a million
random hashes on the benchmark machine (docs/index.md); only speed depends on them, never
correctness.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from functools import lru_cache
from math import comb, log2


@dataclass(frozen=True, slots=True)
class Tuning:
    """Knobs of the index. The defaults suit 256-bit PDQ hashes from ten thousand to 100 million.

    A segment's tables may take ``table_bytes_per_row`` bytes per row, or ``table_bytes_floor``
    bytes in all if that is more: small segments can afford more tables than large ones.

    ``chunk_widths`` fixes the layout of every segment that gets tables (tests use it to exercise
    odd layouts on tiny data); ``always_probe`` forbids falling back to a scan while probing is
    possible, for the same reason.
    """

    min_table_rows: int = 1024
    table_bytes_per_row: float = 56.0
    table_bytes_floor: int = 32 << 20
    max_chunk_bits: int = 24
    merge_ratio: float = 2.0
    design_radius: int | None = None
    chunk_widths: tuple[int, ...] | None = None
    always_probe: bool = False
    probe_ns: float = 22.0
    candidate_ns: float = 15.0
    scan_row_ns: float = 2.0


def ball(width: int, t: int) -> int:
    """How many keys lie within t bits of a key of ``width`` bits."""
    return sum(comb(width, k) for k in range(min(t, width) + 1)) if t >= 0 else 0


def _chunk_cost(width: int, t: int, rows: int, tuning: Tuning) -> float:
    keys = ball(width, t)
    return keys * tuning.probe_ns + rows * keys / (1 << width) * tuning.candidate_ns


@lru_cache(maxsize=8192)
def _cost_curve(width: int, rows: int, tuning: Tuning) -> tuple[float, ...]:
    """Modelled cost of one chunk for t = -1, 0, ..., width (index t + 1)."""
    return tuple(_chunk_cost(width, t, rows, tuning) for t in range(-1, width + 1))


def _allocate(widths: tuple[int, ...], rows: int, radius: int, tuning: Tuning) -> list[int] | None:
    """Per-chunk radii with sum(t_i + 1) >= radius + 1 at the least modelled cost, or None.

    Greedy on marginal cost: each step raises the chunk whose next unit of radius is cheapest.
    For the convex part of the cost curve (t below half the width) that is optimal; beyond it the
    plan is still exact, just possibly not the cheapest.
    """
    if sum(w + 1 for w in widths) < radius + 1:
        return None
    curves = [_cost_curve(w, rows, tuning) for w in widths]
    t = [-1] * len(widths)
    heap = [(c[1] - c[0], i) for i, c in enumerate(curves)]
    heapq.heapify(heap)
    for _ in range(radius + 1):
        _, i = heapq.heappop(heap)
        t[i] += 1
        if t[i] < widths[i]:
            heapq.heappush(heap, (curves[i][t[i] + 2] - curves[i][t[i] + 1], i))
    return t


@lru_cache(maxsize=4096)
def plan(
    widths: tuple[int, ...], rows: int, radius: int, tuning: Tuning
) -> tuple[tuple[int, ...], float] | None:
    """(t per chunk, modelled ns per query) for probing a segment, or None to scan it instead."""
    if not widths or rows == 0:
        return None
    t = _allocate(widths, rows, radius, tuning)
    if t is None:
        return None
    cost = sum(_chunk_cost(w, ti, rows, tuning) for w, ti in zip(widths, t, strict=True))
    if not tuning.always_probe and cost >= rows * tuning.scan_row_ns:
        return None
    return tuple(t), cost


def offsets(widths: tuple[int, ...]) -> tuple[int, ...]:
    """Bit offset of each chunk: chunks are contiguous from bit 0; leftover high bits go unused."""
    out, at = [], 0
    for w in widths:
        out.append(at)
        at += w
    return tuple(out)


def choose_widths(rows: int, bits: int, tuning: Tuning) -> tuple[int, ...]:
    """Chunk widths for a segment of ``rows`` hashes, or () for a segment answered by scans."""
    if tuning.chunk_widths is not None:
        return tuning.chunk_widths if rows > 0 else ()
    if rows < max(tuning.min_table_rows, 1):
        return ()
    radius = tuning.design_radius if tuning.design_radius is not None else bits * 31 // 256
    # Decide per eighth of a power of two of the size (so the answer is cached), estimating
    # memory at the smaller end of the class (conservative).
    costs = Tuning(
        probe_ns=tuning.probe_ns,
        candidate_ns=tuning.candidate_ns,
        scan_row_ns=tuning.scan_row_ns,
    )
    size_class = int(log2(rows) * 8)
    budget = max(tuning.table_bytes_per_row, tuning.table_bytes_floor / 2 ** (size_class / 8))
    return _best_widths(size_class, bits, radius, budget, tuning.max_chunk_bits, costs)


@lru_cache(maxsize=512)
def _best_widths(
    size_class: int, bits: int, radius: int, budget: float, max_bits: int, costs: Tuning
) -> tuple[int, ...]:
    """The cheapest layout at the design radius whose tables fit the memory budget per row.

    Candidates: m chunks, ``wide`` of them w + 1 bits and the rest w bits, bits left over unused.
    """
    rows = int(2 ** (size_class / 8))
    best: tuple[int, ...] = ()
    best_cost = rows * costs.scan_row_ns
    for m in range(1, 33):
        for w in range(6, min(max_bits, bits // m) + 1):
            top = min(m, bits - m * w) if w + 1 <= max_bits else 0
            sample = range(top + 1) if top <= 12 else (0, top // 4, top // 2, 3 * top // 4, top)
            for wide in sample:
                widths = (w + 1,) * wide + (w,) * (m - wide)
                memory = 4 * m + 4 * sum((1 << x) + 1 for x in widths) / rows
                if memory > budget:
                    break  # more wide chunks only cost more
                t = _allocate(widths, rows, radius, costs)
                if t is None:
                    continue
                cost = sum(_chunk_cost(x, ti, rows, costs) for x, ti in zip(widths, t, strict=True))
                if cost < best_cost:
                    best, best_cost = widths, cost
    return best


def check_widths(widths: tuple[int, ...], bits: int, max_bits: int = 24) -> None:
    """Raise ValueError unless the widths are positive, small enough, and fit in ``bits``."""
    if any(w < 1 or w > max_bits for w in widths) or sum(widths) > bits:
        raise ValueError(f"chunk widths {widths} do not fit {bits} bits (each 1..{max_bits})")

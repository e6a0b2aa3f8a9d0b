"""The robustness benchmark: transform every original, hash with every method, match, report.

``run(data_dir, out_dir)`` is the one entry point (the CLI's ``jaga eval robustness`` and
``benchmarks/robustness.py`` call it). It writes ``robustness.md``, ``robustness.json`` and
``robustness.png`` into ``out_dir`` and returns the :class:`RobustnessReport`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from jaga.errors import InvalidInput
from jaga.eval.cost import Cost, lookup_ms, summarise
from jaga.eval.images import Original, decode_seconds, load_originals
from jaga.eval.methods import HashSet, Method, PdqMethod, make_methods
from jaga.eval.metrics import (
    compute_distances,
    precision_at,
    recall_by_group,
    threshold_at_precision,
    unrelated_stats,
)
from jaga.eval.report import TARGET_PRECISION, MethodResult, RobustnessReport, TransformInfo
from jaga.eval.transforms import Transform, get_transforms

#: Originals used by ``quick=True`` (a smoke run of a minute or two on a laptop).
QUICK_IMAGES = 12
DEFAULT_BANK_SIZE = 200_000
QUICK_BANK_SIZE = 20_000


class InvalidBenchmarkOption(InvalidInput):
    """An option of the benchmark run is out of range."""


def run(
    data_dir: str | Path,
    out_dir: str | Path | None = None,
    *,
    methods: Sequence[str] | None = None,
    transforms: Sequence[str] | None = None,
    quick: bool = False,
    limit: int | None = None,
    seed: int = 0,
    bank_size: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> RobustnessReport:
    """Run the benchmark on the images in ``data_dir``; write the report into ``out_dir``.

    ``limit`` caps the number of originals (``quick`` uses 12 and a smaller lookup index);
    ``methods`` and ``transforms`` pick by name (default: all); ``bank_size`` is the number of
    bank images simulated for lookup timing.
    """
    if limit is not None and limit < 2:
        raise InvalidBenchmarkOption(f"limit must be at least 2 images, got {limit}")
    if bank_size is not None and bank_size < 0:
        raise InvalidBenchmarkOption(f"bank_size must be >= 0, got {bank_size}")
    say = progress or (lambda _message: None)
    started = time.perf_counter()
    if quick and limit is None:
        limit = QUICK_IMAGES
    if bank_size is None:
        bank_size = QUICK_BANK_SIZE if quick else DEFAULT_BANK_SIZE
    originals = load_originals(data_dir, limit)
    if len(originals) < 2:
        raise InvalidBenchmarkOption("the benchmark needs at least 2 originals")
    chosen = get_transforms(transforms)
    method_list = make_methods(methods)
    baseline = PdqMethod()
    say(f"{len(originals)} originals, {len(chosen)} transforms, {len(method_list)} methods")

    bank = {m.name: [m.bank(o.pixels) for o in originals] for m in method_list}
    queries: dict[str, list[HashSet]] = {m.name: [] for m in method_list}
    seconds: dict[str, list[float]] = {m.name: [] for m in method_list}
    baseline_queries: list[HashSet] = []
    baseline_seconds: list[float] = []
    source: list[int] = []
    labels: list[str] = []
    for i, original in enumerate(originals):
        for transform in chosen:
            pixels = transform.apply(original.pixels, seed=_query_seed(seed, i))
            source.append(i)
            labels.append(transform.name)
            for method in method_list:
                begin = time.process_time()
                hashes = method.query(pixels)
                seconds[method.name].append(time.process_time() - begin)
                queries[method.name].append(hashes)
            begin = time.process_time()
            baseline_queries.append(baseline.query(pixels))
            baseline_seconds.append(time.process_time() - begin)
        say(f"hashed queries of {i + 1}/{len(originals)}: {original.name}")

    say("timing untransformed uploads")
    upload_seconds = {m.name: _upload_seconds(m, originals) for m in [*method_list, baseline]}
    decode = decode_seconds(originals)
    base_cost = summarise(
        [baseline.bank(o.pixels) for o in originals],
        baseline_queries,
        baseline_seconds,
        baseline.bits,
        baseline.production_threshold,
        bank_size,
        seed,
    )
    core = {t.name for t in chosen if t.core}
    results = []
    for method in method_list:
        say(f"matching {method.name}")
        results.append(
            _evaluate(
                method,
                bank[method.name],
                queries[method.name],
                seconds[method.name],
                source,
                labels,
                core,
                bank_size,
                seed,
                base_cost,
                upload_seconds[method.name] / upload_seconds[baseline.name],
                decode * 1e3,
            )
        )
    report = RobustnessReport(
        data_dir=str(data_dir),
        images=len(originals),
        seed=seed,
        transforms=[TransformInfo(t.name, t.group, t.description, t.core) for t in chosen],
        methods=results,
        bank_size=bank_size,
        decode_ms=decode * 1e3,
        elapsed_s=time.perf_counter() - started,
    )
    if out_dir is not None:
        report.write(out_dir)
    return report


def _upload_seconds(method: Method, originals: Sequence[Original], rounds: int = 3) -> float:
    """Mean CPU seconds to hash an untransformed original as a query (the typical upload has
    no borders, frame or rotation, so most variants stop at their cheap first test)."""
    best = float("inf")
    for _ in range(rounds):
        begin = time.process_time()
        for original in originals:
            method.query(original.pixels)
        best = min(best, (time.process_time() - begin) / len(originals))
    return best


def _query_seed(seed: int, index: int) -> int:
    """One seed per original (each transform adds its own name to it)."""
    return (seed * 1_000_003 + index) & 0xFFFFFFFF


def _evaluate(
    method: Method,
    bank: list[HashSet],
    queries: list[HashSet],
    seconds: list[float],
    source: list[int],
    labels: list[str],
    core: set[str],
    bank_size: int,
    seed: int,
    base_cost: Cost,
    upload_ratio: float,
    decode_ms: float,
) -> MethodResult:
    distances = compute_distances(bank, queries, source, method.bits)
    production = method.production_threshold
    chosen = threshold_at_precision(distances, TARGET_PRECISION)
    hits_production = distances.positives() <= production
    hits_chosen = distances.positives() <= chosen
    in_core = np.array([label in core for label in labels])
    cost = summarise(bank, queries, seconds, method.bits, production, bank_size, seed)
    ratio = cost.query_ms / base_cost.query_ms if base_cost.query_ms > 0 else float("nan")
    end_to_end = (decode_ms + cost.query_ms) / (decode_ms + base_cost.query_ms)
    return MethodResult(
        name=method.name,
        description=method.description,
        bits=method.bits,
        production_threshold=production,
        chosen_threshold=chosen,
        precision_at_chosen=precision_at(distances, chosen),
        precision_at_production=precision_at(distances, production),
        recall_production=recall_by_group(distances, labels, production),
        recall_chosen=recall_by_group(distances, labels, chosen),
        pooled_production=float(hits_production.mean()),
        pooled_chosen=float(hits_chosen.mean()),
        core_pooled_production=float(hits_production[in_core].mean()) if in_core.any() else 0.0,
        core_pooled_chosen=float(hits_chosen[in_core].mean()) if in_core.any() else 0.0,
        unrelated=unrelated_stats(distances, production, chosen),
        cost=cost,
        cost_ratio=ratio,
        upload_hash_ratio=upload_ratio,
        end_to_end_ratio=end_to_end,
        matched_by=_matched_by(bank, queries, source, production)
        if method.name.startswith("jaga")
        else {},
    )


def _matched_by(
    bank: list[HashSet], queries: list[HashSet], source: list[int], threshold: int
) -> dict[str, int]:
    """For each query matched to its original, the (query variant ~ bank variant) pair that
    came closest: which variants earn their keep."""
    counts: Counter[str] = Counter()
    for query, owner in zip(queries, source, strict=True):
        target = bank[owner]
        if len(query) == 0 or len(target) == 0:
            continue
        xor = query.values[:, None, :] ^ target.values[None, :, :]
        dist = np.unpackbits(xor, axis=2).sum(axis=2)
        q, b = np.unravel_index(int(np.argmin(dist)), dist.shape)
        if dist[q, b] <= threshold:
            counts[f"{_label(query.names[q])} ~ {_label(target.names[b])}"] += 1
    return dict(counts.most_common())


def _label(name: str) -> str:
    return name or "plain"


__all__ = ["RobustnessReport", "Transform", "lookup_ms", "run"]

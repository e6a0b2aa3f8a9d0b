"""Benchmark jaga.index against FAISS, the index Meta's HMA uses, measured in the same run.

For each bank size N: N random 256-bit hashes under shuffled int64 ids, and a batch of queries
(default 10,000), half planted within 0-31 bits of a bank entry and half random. Every method runs
in its own child process, so its resident memory is measured cleanly (VmRSS after building minus
VmRSS before, with the bank already in memory):

- jaga:        HammingIndex, radius 31
- faiss-mih:   IndexBinaryMultiHash(256, 16, 16), nflip = 31 // 16 as python-threatexchange sets
               it, range_search(32): FAISS counts distances strictly below the radius
- faiss-flat:  IndexBinaryFlat, range_search(32)

Recall and false positives are counted against a brute-force scan (hamming_scan, itself tested
against NumPy) on the first --truth-queries queries; Jaga's answers to all queries are also
checked: every reported distance recomputed, every planted source found.

    python benchmarks/index.py                 # 1M and 10M
    python benchmarks/index.py --quick         # 100k
    python benchmarks/index.py 1000000 --json out.json --markdown out.md
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import functools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

RADIUS = 31
ADD = 100_000


# ---------------------------------------------------------------------------- data


def make_bank(n: int, seed: int) -> tuple[NDArray[np.int64], NDArray[np.uint8]]:
    rng = np.random.default_rng(seed)
    hashes = np.frombuffer(rng.bytes(n * 32), dtype=np.uint8).reshape(n, 32).copy()
    ids = rng.permutation(n).astype(np.int64) * 3 + 1  # shuffled, sparse, not row numbers
    return ids, hashes


def make_queries(
    hashes: NDArray[np.uint8], count: int, seed: int
) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """Queries, and for each the bank row it was planted from (-1 for random ones)."""
    rng = np.random.default_rng(seed + 1)
    n = hashes.shape[0]
    planted = count // 2
    source = np.full(count, -1, dtype=np.int64)
    source[:planted] = rng.integers(0, n, size=planted)
    queries = np.frombuffer(rng.bytes(count * 32), dtype=np.uint8).reshape(count, 32).copy()
    flips = rng.integers(0, RADIUS + 1, size=planted)
    order = np.argsort(rng.random((planted, 256)), axis=1)
    bits = np.zeros((planted, 256), dtype=np.uint8)
    rows = np.repeat(np.arange(planted), flips)
    cols = order[np.arange(256)[None, :] < flips[:, None]]
    bits[rows, cols] = 1
    queries[:planted] = hashes[source[:planted]] ^ np.packbits(bits, axis=1, bitorder="little")
    mix = rng.permutation(count)  # planted and random interleaved, so any prefix has both
    return queries[mix], source[mix]


def new_entries(n: int, seed: int) -> tuple[NDArray[np.int64], NDArray[np.uint8]]:
    rng = np.random.default_rng(seed + 2)
    hashes = np.frombuffer(rng.bytes(ADD * 32), dtype=np.uint8).reshape(ADD, 32).copy()
    return np.arange(ADD, dtype=np.int64) * 3 + 3 * n + 2, hashes


# ---------------------------------------------------------------------------- measuring


def rss_bytes() -> int:
    """Resident set size, after handing freed heap back to the OS so the delta is the index."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def pairs(q: NDArray[Any], rows: NDArray[Any]) -> set[tuple[int, int]]:
    return set(zip(q.tolist(), rows.tolist(), strict=True))


def score(found: set[tuple[int, int]], truth: set[tuple[int, int]]) -> tuple[float, int]:
    recall = len(found & truth) / len(truth) if truth else 1.0
    return recall, len(found - truth)


def timed(fn: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def best_of(fn: Any, runs: int = 3, budget_s: float = 20.0) -> tuple[float, Any]:
    """Fastest of up to ``runs`` timings (fewer once ``budget_s`` is spent): the machine is shared,
    and the fastest run is the one least disturbed by other work."""
    best, out = timed(fn)
    spent = best
    for _ in range(runs - 1):
        if spent > budget_s:
            break
        secs, out = timed(fn)
        spent += secs
        best = min(best, secs)
    return best, out


# ---------------------------------------------------------------------------- workers


def worker(args: argparse.Namespace) -> dict[str, Any]:
    ids, hashes = make_bank(args.n, args.seed)
    queries, _ = make_queries(hashes, args.queries, args.seed)
    truth_file = np.load(args.truth)
    truth = pairs(truth_file["q"], truth_file["row"])
    t = int(truth_file["count"])
    if args.method == "jaga":
        return run_jaga(args, ids, hashes, queries, truth, t)
    return run_faiss(args, hashes, queries, truth, t)


def run_jaga(
    args: argparse.Namespace,
    ids: NDArray[np.int64],
    hashes: NDArray[np.uint8],
    queries: NDArray[np.uint8],
    truth: set[tuple[int, int]],
    t: int,
) -> dict[str, Any]:
    from jaga.index import HammingIndex

    out: dict[str, Any] = {"method": "jaga"}
    before = rss_bytes()
    index = HammingIndex()
    t0 = time.perf_counter()
    index.add(ids, hashes)
    out["build_s"] = time.perf_counter() - t0
    out["bytes_per_hash"] = (rss_bytes() - before) / args.n
    out["array_bytes_per_hash"] = index.memory_bytes() / args.n
    out["tables"] = index.stats()["tables_in_largest_segment"]
    index.query(queries[:200], RADIUS, threads=1)  # warm caches and plans
    for threads in (1, 2):
        secs, result = best_of(functools.partial(index.query, queries, RADIUS, threads=threads))
        out[f"qps_{threads}"] = queries.shape[0] / secs
    out["timed_queries"] = queries.shape[0]

    # Rows of the bank from ids (ids are row * 3 + 1 after the shuffle).
    row_of_id = np.empty(args.n, dtype=np.int64)
    row_of_id[(ids - 1) // 3] = np.arange(args.n)
    rows = row_of_id[(result.ids - 1) // 3]
    recomputed = np.bitwise_count(queries[result.query_index] ^ hashes[rows]).sum(axis=1)
    out["all_distances_correct"] = bool(np.array_equal(recomputed, result.distances))
    keep = result.query_index < t
    out["recall"], out["false_positives"] = score(
        pairs(result.query_index[keep], rows[keep]), truth
    )
    _, source = make_queries(hashes, args.queries, args.seed)
    found = pairs(result.query_index, rows)
    planted = [(q, int(s)) for q, s in enumerate(source.tolist()) if s >= 0]
    out["planted_found"] = sum(p in found for p in planted) / len(planted)

    new_ids, new_hashes = new_entries(args.n, args.seed)
    t0 = time.perf_counter()
    index.add(new_ids, new_hashes)
    out["add_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    index.remove(new_ids[:10_000])
    out["remove_10k_s"] = time.perf_counter() - t0
    path = Path(args.tmp) / f"jaga-{args.n}.jgx"
    t0 = time.perf_counter()
    index.save(path)
    out["save_s"] = time.perf_counter() - t0
    out["snapshot_bytes"] = path.stat().st_size
    del index
    out["open_s"], opened = timed(lambda: HammingIndex.open(path))
    out["first_query_s"], first = timed(lambda: opened.query_one(queries[0].tobytes(), RADIUS))
    out["open_query_ok"] = len(first) == sum(1 for q, _ in truth if q == 0)
    path.unlink()
    return out


def run_faiss(
    args: argparse.Namespace,
    hashes: NDArray[np.uint8],
    queries: NDArray[np.uint8],
    truth: set[tuple[int, int]],
    t: int,
) -> dict[str, Any]:
    import faiss

    out: dict[str, Any] = {"method": args.method}
    faiss.omp_set_num_threads(2)
    before = rss_bytes()
    index: Any = (
        faiss.IndexBinaryMultiHash(256, 16, 16)
        if args.method == "faiss-mih"
        else faiss.IndexBinaryFlat(256)
    )
    out["build_s"], _ = timed(lambda: index.add(hashes))
    out["bytes_per_hash"] = (rss_bytes() - before) / args.n
    if args.method == "faiss-mih":
        index.nflip = RADIUS // 16  # python-threatexchange: threshold // nhash
    sub = queries[: args.limit]
    out["timed_queries"] = sub.shape[0]
    index.range_search(sub[:5], RADIUS + 1)
    for threads in (1, 2):
        faiss.omp_set_num_threads(threads)
        secs, (lims, dist, labels) = best_of(lambda: index.range_search(sub, RADIUS + 1))
        out[f"qps_{threads}"] = sub.shape[0] / secs
    qidx = np.repeat(np.arange(sub.shape[0]), np.diff(lims).astype(np.int64))
    keep = qidx < t
    sub_truth = {p for p in truth if p[0] < sub.shape[0]}
    out["recall"], out["false_positives"] = score(pairs(qidx[keep], labels[keep]), sub_truth)
    out["max_distance"] = int(dist.max()) if dist.size else 0

    _, new_hashes = new_entries(args.n, args.seed)
    faiss.omp_set_num_threads(2)
    out["add_s"], _ = timed(lambda: index.add(new_hashes))
    if args.method == "faiss-mih":
        path = Path(args.tmp) / f"faiss-{args.n}.index"
        out["save_s"], _ = timed(lambda: faiss.write_index_binary(index, str(path)))
        out["snapshot_bytes"] = path.stat().st_size
        del index
        out["open_s"], opened = timed(lambda: faiss.read_index_binary(str(path)))
        opened.nflip = RADIUS // 16
        faiss.omp_set_num_threads(1)
        out["first_query_s"], _ = timed(lambda: opened.range_search(queries[:1], RADIUS + 1))
        path.unlink()
    return out


# ---------------------------------------------------------------------------- driver


def cpu_name() -> str:
    model, family, number = platform.processor() or "unknown CPU", "", ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key, value = key.strip(), value.strip()
            if key == "model name" and model in ("unknown CPU", platform.processor()):
                model = value
            elif key == "cpu family" and not family:
                family = value
            elif key == "model" and not number:
                number = value
    except OSError:
        pass
    detail = f" (family {family} model {number})" if family else ""
    return f"{model}{detail}, {os.cpu_count()} cores"


def run_size(n: int, args: argparse.Namespace, tmp: str) -> list[dict[str, Any]]:
    from jaga.index import hamming_scan

    print(f"\n== N = {n:,}: generating bank and queries, brute-force truth", flush=True)
    _, hashes = make_bank(n, args.seed)
    queries, _ = make_queries(hashes, args.queries, args.seed)
    t = min(args.truth_queries or max(200, int(1e10 // n)), args.queries)
    t0 = time.perf_counter()
    truth = hamming_scan(hashes, queries[:t], RADIUS)
    secs = time.perf_counter() - t0
    print(f"   brute force: {t} queries in {secs:.1f} s, {len(truth)} true matches", flush=True)
    truth_path = os.path.join(tmp, f"truth-{n}.npz")
    np.savez(truth_path, q=truth.query_index, row=truth.ids, count=t)
    del hashes
    rows = []
    mih_limit = args.faiss_queries or (args.queries if n <= 1_000_000 else 1000)
    flat_limit = args.flat_queries or max(100, min(args.queries, int(2e9 // n)))
    for method, limit in (
        ("jaga", args.queries),
        ("faiss-mih", mih_limit),
        ("faiss-flat", flat_limit),
    ):
        cmd = [
            sys.executable,
            __file__,
            "--worker",
            method,
            "--n",
            str(n),
            "--seed",
            str(args.seed),
        ]
        cmd += ["--queries", str(args.queries), "--truth", truth_path, "--tmp", tmp]
        cmd += ["--limit", str(min(limit, args.queries))]
        print(f"   {method} ...", flush=True)
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode:
            print(done.stderr, file=sys.stderr)
            raise SystemExit(f"{method} failed at N={n}")
        row = json.loads(done.stdout.strip().splitlines()[-1])
        row["n"] = n
        row["truth_queries"] = t
        rows.append(row)
        print("   " + json.dumps(row), flush=True)
    return rows


def fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def bytes_per_hash(r: dict[str, Any]) -> str:
    arrays = r.get("array_bytes_per_hash")
    return f"{r['bytes_per_hash']:.1f}" + ("" if arrays is None else f" ({arrays:.1f} in arrays)")


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| N | method | build s | RSS bytes/hash | q/s 1 thread | q/s 2 threads | queries timed "
        "| recall | false pos. | add 100k s | save s | open s | 1st query after open ms |"
    )
    lines = [head, "|" + "---|" * 13]
    mih = {r["n"]: r for r in rows if r["method"] == "faiss-mih"}
    for r in rows:
        ratio = ""
        if r["method"] == "jaga" and r["n"] in mih:
            ratio = f" ({r['qps_1'] / mih[r['n']]['qps_1']:.0f}x)"
        first = r.get("first_query_s")
        lines.append(
            f"| {r['n']:,} | {r['method']} | {r['build_s']:.2f} | {bytes_per_hash(r)} "
            f"| {r['qps_1']:,.0f}{ratio} | {r['qps_2']:,.0f} | {r['timed_queries']:,} "
            f"| {r['recall']:.4f} | {r['false_positives']} | {r['add_s']:.3f} "
            f"| {fmt(r.get('save_s'), '.2f')} | {fmt(r.get('open_s'), '.3f')} "
            f"| {fmt(None if first is None else first * 1000, '.1f')} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int)
    parser.add_argument("--quick", action="store_true", help="one bank of 100,000")
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--truth-queries", type=int, default=0, help="brute-forced prefix")
    parser.add_argument("--faiss-queries", type=int, default=0, help="queries timed for MIH")
    parser.add_argument("--flat-queries", type=int, default=0, help="queries timed for flat")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--truth", help=argparse.SUPPRESS)
    parser.add_argument("--tmp", help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.method = args.worker
        print(json.dumps(worker(args)))
        return
    sizes = args.sizes or ([100_000] if args.quick else [1_000_000, 10_000_000])
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="jaga-bench-") as tmp:
        for n in sizes:
            rows.extend(run_size(n, args, tmp))
    report = f"CPU: {cpu_name()}; radius {RADIUS}; {args.queries:,} queries\n\n{table(rows)}\n"
    print("\n" + report)
    if args.json:
        args.json.write_text(json.dumps({"cpu": cpu_name(), "rows": rows}, indent=1))
    if args.markdown:
        args.markdown.write_text(report)


if __name__ == "__main__":
    main()

"""Images per second, end to end (read the file, decode, hash), Jaga against the references.

Methods, each on 1 and 2 worker processes:

* jaga-fast   -- jaga.signals.hashing.hash_path, PDQ only, default fast path (reduced JPEG decode
                 keeping the short side >= 1024: 12 MP photos decode at 1/2 scale)
* jaga-fast-512 -- the same with fast_min_side=512 (12 MP photos decode at 1/4 scale)
* jaga-exact  -- the same with exact=True (full decode; hash identical to Meta's reference)
* pdqhash     -- what HMA / python-threatexchange do: a full Pillow decode to an RGB array, then
                 the pdqhash binding (Meta's reference C++)                      <- the anchor
* imagehash   -- imagehash.phash on the Pillow image (a common 64-bit alternative)

Sizes: the corpus JPEGs at their native 768x512, and the same photos upscaled to 12 MP JPEGs
(4000x3000, quality 90) generated into a temporary folder.

    .venv/bin/python benchmarks/hashing.py                      # full run
    .venv/bin/python benchmarks/hashing.py --count 8 --big-count 2 --repeats 1   # seconds
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def jaga_fast(path: str) -> object:
    from jaga.signals.hashing import HashOptions, hash_path

    return hash_path(path, HashOptions(signal_types=("pdq",)))


def jaga_fast_512(path: str) -> object:
    from jaga.signals.hashing import HashOptions, hash_path

    return hash_path(path, HashOptions(signal_types=("pdq",), fast_min_side=512))


def jaga_exact(path: str) -> object:
    from jaga.signals.hashing import HashOptions, hash_path

    return hash_path(path, HashOptions(signal_types=("pdq",), exact=True))


def reference_pdqhash(path: str) -> object:
    import numpy as np
    import pdqhash
    from PIL import Image

    with Image.open(path) as image:
        rgb = np.asarray(image.convert("RGB"))
    return pdqhash.compute(rgb)


def imagehash_phash(path: str) -> object:
    import imagehash
    from PIL import Image

    with Image.open(path) as image:
        return imagehash.phash(image)


METHODS: dict[str, Callable[[str], object]] = {
    "jaga-fast": jaga_fast,
    "jaga-fast-512": jaga_fast_512,
    "jaga-exact": jaga_exact,
    "pdqhash": reference_pdqhash,
    "imagehash": imagehash_phash,
}
ANCHOR = "pdqhash"


def _warm(_: int) -> None:
    """Import everything in a worker before the clock starts."""
    import imagehash  # noqa: F401
    import pdqhash  # noqa: F401

    import jaga.signals.hashing  # noqa: F401


def run(method: str, files: Sequence[str], workers: int, repeats: int) -> float:
    """Best images/s over ``repeats`` passes over ``files``."""
    func = METHODS[method]
    best = 0.0
    if workers <= 1:
        _warm(0)
        func(files[0])
        for _ in range(repeats):
            start = time.perf_counter()
            for f in files:
                func(f)
            best = max(best, len(files) / (time.perf_counter() - start))
        return best
    context = multiprocessing.get_context("forkserver")
    with context.Pool(workers) as pool:
        pool.map(_warm, range(workers * 2))
        pool.map(func, files[: workers * 2])
        for _ in range(repeats):
            start = time.perf_counter()
            pool.map(func, files, chunksize=1)
            best = max(best, len(files) / (time.perf_counter() - start))
    return best


def make_big(sources: Sequence[Path], folder: Path, size: tuple[int, int]) -> list[str]:
    """12 MP JPEG versions (quality 90) of ``sources``, landscape or portrait as the source."""
    from PIL import Image

    out = []
    for src in sources:
        with Image.open(src) as image:
            w, h = size if image.width >= image.height else (size[1], size[0])
            big = image.convert("RGB").resize((w, h), Image.Resampling.BICUBIC)
        target = folder / (src.stem + "-12mp.jpg")
        big.save(target, quality=90)
        out.append(str(target))
    return out


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} logical CPU(s), Python {platform.python_version()}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared data folder")
    parser.add_argument("--count", type=int, default=80, help="corpus images at native size")
    parser.add_argument("--big-count", type=int, default=20, help="12 MP images to generate")
    parser.add_argument("--repeats", type=int, default=2, help="passes; the best is reported")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated methods")
    parser.add_argument("--skip-big", action="store_true", help="native size only")
    args = parser.parse_args(argv)

    corpus = sorted((args.data / "corpus").glob("*.jpg"))[: args.count]
    if not corpus:
        print(f"no JPEGs in {args.data / 'corpus'}", file=sys.stderr)
        return 2
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    workers = [int(w) for w in args.workers.split(",")]
    print(f"machine: {machine()}")
    rows: list[tuple[str, str, int, float]] = []
    with tempfile.TemporaryDirectory(prefix="jaga-bench-") as tmp:
        sets = {"768x512": [str(p) for p in corpus]}
        if not args.skip_big and args.big_count > 0:
            print(f"generating {args.big_count} 12 MP JPEGs...", file=sys.stderr)
            sets["12 MP"] = make_big(corpus[: args.big_count], Path(tmp), (4000, 3000))
        for label, files in sets.items():
            for w in workers:
                for method in methods:
                    rate = run(method, files, w, args.repeats)
                    rows.append((label, method, w, rate))
                    print(
                        f"  {label:8} {method:13} workers={w}: {rate:8.1f} images/s",
                        file=sys.stderr,
                    )
        print()
        print(
            f"{len(corpus)} corpus images; 12 MP set: {len(sets.get('12 MP', []))} images;"
            f" best of {args.repeats} pass(es)"
        )
        print()
        print("| size | workers | method | images/s | ms/image | vs pdqhash |")
        print("| --- | ---: | --- | ---: | ---: | ---: |")
        for label, method, w, rate in rows:
            anchor = next((r for lb, m, ww, r in rows if (lb, m, ww) == (label, ANCHOR, w)), None)
            ratio = f"{rate / anchor:.1f}x" if anchor else "-"
            print(f"| {label} | {w} | {method} | {rate:.1f} | {1000 / rate:.1f} | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

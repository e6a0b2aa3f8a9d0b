"""How far the PDQ fast path (reduced JPEG decode) moves hashes, against the exact full decode.

For every JPEG of quality >= 80 in the data folder -- the corpus at native size, the same photos
upscaled to 12 MP (generated), and Meta's PDQ test images -- hash with the fast path (for each
``--min-side`` value; 1024 is the default of HashOptions.fast_min_side) and with exact=True, and
report the Hamming distance. Target: median <= 2 bits, max <= 10.

    .venv/bin/python benchmarks/pdq_fastpath.py
    .venv/bin/python benchmarks/pdq_fastpath.py --count 5 --big-count 2     # seconds
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from jaga.signals.hashing import HashOptions, hash_path

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# The IJG standard luminance quantisation table (quality 50), in zigzag order like Pillow's.
_STD_LUMA = [
    16, 11, 12, 14, 12, 10, 16, 14, 13, 14, 18, 17, 16, 19, 24, 40, 26, 24, 22, 22, 24, 49, 35,
    37, 29, 40, 58, 51, 61, 60, 57, 51, 56, 55, 64, 72, 92, 78, 64, 68, 87, 69, 55, 56, 80, 109,
    81, 87, 95, 98, 103, 104, 103, 62, 77, 113, 121, 112, 100, 120, 92, 101, 103, 99,
]  # fmt: skip


def jpeg_quality(path: Path) -> int | None:
    """IJG-style quality estimated from the luminance table (None if not a JPEG)."""
    with Image.open(path) as image:
        if image.format != "JPEG":
            return None
        tables = getattr(image, "quantization", None) or {}
    if 0 not in tables:
        return None
    scale = 100.0 * sum(tables[0]) / sum(_STD_LUMA)
    quality = (200.0 - scale) / 2.0 if scale <= 100.0 else 5000.0 / scale
    return round(min(100.0, max(1.0, quality)))


def distance(a: bytes, b: bytes) -> int:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


def measure(files: Sequence[Path], min_sides: Sequence[int]) -> dict[int, list[tuple[Path, int]]]:
    exact = HashOptions(signal_types=("pdq",), exact=True)
    out: dict[int, list[tuple[Path, int]]] = {m: [] for m in min_sides}
    for path in files:
        reference = hash_path(path, exact).of_type("pdq")[0].value
        for m in min_sides:
            fast = HashOptions(signal_types=("pdq",), fast_min_side=m)
            value = hash_path(path, fast).of_type("pdq")[0].value
            out[m].append((path, distance(value, reference)))
    return out


def make_big(sources: Sequence[Path], folder: Path) -> list[Path]:
    out = []
    for src in sources:
        with Image.open(src) as image:
            size = (4000, 3000) if image.width >= image.height else (3000, 4000)
            big = image.convert("RGB").resize(size, Image.Resampling.BICUBIC)
        target = folder / (src.stem + "-12mp.jpg")
        big.save(target, quality=90)
        out.append(target)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--count", type=int, default=80, help="corpus images")
    parser.add_argument("--big-count", type=int, default=80, help="12 MP images to generate")
    parser.add_argument("--min-quality", type=int, default=80)
    parser.add_argument("--min-side", default="1024,512", help="fast_min_side values to measure")
    args = parser.parse_args(argv)

    def good(paths: Sequence[Path]) -> list[Path]:
        return [p for p in paths if (jpeg_quality(p) or 0) >= args.min_quality]

    corpus = good(sorted((args.data / "corpus").glob("*.jpg"))[: args.count])
    pdq_images = good(sorted((args.data / "pdq").rglob("*.jpg")))
    min_sides = [int(v) for v in args.min_side.split(",")]
    groups: dict[str, dict[int, list[tuple[Path, int]]]] = {}
    with tempfile.TemporaryDirectory(prefix="jaga-fastpath-") as tmp:
        print(f"generating {min(args.big_count, len(corpus))} 12 MP JPEGs...", file=sys.stderr)
        big = make_big(corpus[: args.big_count], Path(tmp))
        groups["corpus 768x512"] = measure(corpus, min_sides)
        groups["corpus upscaled to 12 MP"] = measure(big, min_sides)
        groups["PDQ test images"] = measure(pdq_images, min_sides)
    print(f"JPEGs of estimated quality >= {args.min_quality}; distance fast path vs exact (bits)")
    print()
    print("| fast_min_side | set | images | median | mean | max | identical |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for m in min_sides:
        everything = [row for rows in groups.values() for row in rows[m]]
        for name, rows in [*((n, g[m]) for n, g in groups.items()), ("all", everything)]:
            ds = [d for _, d in rows]
            if not ds:
                continue
            same = sum(1 for d in ds if d == 0)
            print(
                f"| {m} | {name} | {len(ds)} | {statistics.median(ds):g} "
                f"| {statistics.mean(ds):.2f} | {max(ds)} | {same} ({100 * same / len(ds):.0f}%) |"
            )
        worst = sorted((d, p.name) for p, d in everything)[-3:]
        print(f"|  | largest: {', '.join(f'{n} ({d})' for d, n in reversed(worst))} | | | | | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

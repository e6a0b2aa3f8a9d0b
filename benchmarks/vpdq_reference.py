"""Jaga's vPDQ against Meta's reference frame hashes (data/video/vpdq-reference/*.txt).

Every frame of each sample video is hashed (video_fps=None) and compared with the reference line
of the same frame number: the share of frames within 10 bits (of all frames, and of the frames of
reference quality >= 50, the only ones matching uses), the share exactly equal, the share with
equal quality, and the mean distance, per video and overall. Differences come from decoding
(FFmpeg version, colour conversion) -- the PDQ arithmetic itself is bit-exact. "video match" is
the reference-style comparison of the whole video with its reference hashes (query / target %).

    .venv/bin/python benchmarks/vpdq_reference.py
    .venv/bin/python benchmarks/vpdq_reference.py --limit 2      # seconds
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from jaga.signals.hashing import HashOptions, hash_path
from jaga.signals.vpdq import VpdqFeature, compare, parse_text

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def distance(a: bytes, b: bytes) -> int:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}% of {whole}" if whole else "-"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--limit", type=int, default=0, help="first N videos only")
    parser.add_argument("--within", type=int, default=10, help="distance counted as close")
    args = parser.parse_args(argv)

    videos = sorted((args.data / "video").glob("*.mp4"))
    if args.limit:
        videos = videos[: args.limit]
    options = HashOptions(signal_types=("vpdq",), video_fps=None)
    totals = [0, 0, 0, 0, 0, 0, 0]  # frames, close, equal, same q, distance sum, q>=50, close
    print(f"every frame; close = within {args.within} bits of the reference frame hash")
    print()
    print(
        "| video | frames | close | close, quality >= 50 | equal | same quality | mean distance "
        "| video match | s |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for video in videos:
        ref_file = args.data / "video" / "vpdq-reference" / (video.stem + ".txt")
        if not ref_file.exists():
            continue
        reference = {f.frame: f for f in parse_text(ref_file.read_text())}
        start = time.perf_counter()
        ours = [
            VpdqFeature(s.value, s.quality or 0, s.frame or 0, s.timestamp or 0.0)
            for s in hash_path(video, options).of_type("vpdq")
        ]
        seconds = time.perf_counter() - start
        pairs = [(f, reference[f.frame]) for f in ours if f.frame in reference]
        missing = len(reference) - len(pairs)
        n = len(pairs) + missing
        close = sum(1 for a, b in pairs if distance(a.hash, b.hash) <= args.within)
        equal = sum(1 for a, b in pairs if a.hash == b.hash)
        quality = sum(1 for a, b in pairs if a.quality == b.quality)
        dsum = sum(distance(a.hash, b.hash) for a, b in pairs)
        good = [(a, b) for a, b in pairs if b.quality >= 50]
        good_close = sum(1 for a, b in good if distance(a.hash, b.hash) <= args.within)
        match = compare(ours, list(reference.values()))
        for i, v in enumerate((n, close, equal, quality, dsum, len(good), good_close)):
            totals[i] += v
        print(
            f"| {video.stem} | {n}{f' ({missing} missing)' if missing else ''} "
            f"| {100 * close / n:.1f}% | {_share(good_close, len(good))} "
            f"| {100 * equal / n:.1f}% | {100 * quality / n:.1f}% "
            f"| {dsum / max(1, len(pairs)):.2f} "
            f"| {match.query_percent:.0f}% / {match.target_percent:.0f}% | {seconds:.1f} |"
        )
    n, close, equal, quality, dsum, good, good_close = totals
    if n:
        print(
            f"| **all** | {n} | {100 * close / n:.1f}% | {_share(good_close, good)} "
            f"| {100 * equal / n:.1f}% | {100 * quality / n:.1f}% | {dsum / n:.2f} | | |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

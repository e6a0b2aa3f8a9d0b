"""Signal variants through the real commands: ``jaga bank add`` and ``jaga scan`` on files.

The robustness evaluation (benchmarks/robustness.py) simulates the matcher on pixels. This runs
what a user runs: the first --bank-size photos of DATA_DIR (default ../shared/data/corpus) are
added with ``jaga bank add`` to a bank WITH variant hashes ("media") and to one WITHOUT
("plain", as banks from exchanges are); seeded edits of every photo (jaga.eval.transforms, the
evaluation's seeds) are written as JPEG (quality 95) and scanned with ``jaga scan`` with and
without ``--variants``. Prints two Markdown tables:

* time: CPU milliseconds per image of ``jaga scan --no-record`` over the unedited photos (one
  worker: reading, decoding, hashing, matching; opening the store and index is subtracted);
* recall: the share of edited copies of banked photos whose scan matched THEIR entry, per
  transform and per (bank, query side) pairing, and how many scans matched a wrong entry or
  an unbanked photo (must be 0).

    .venv/bin/python benchmarks/real_matcher.py                      # 80 photos, 40 banked
    .venv/bin/python benchmarks/real_matcher.py --limit 20 --bank-size 10 --transforms crop_5
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "corpus"
DEFAULT_TRANSFORMS = (
    "jpeg_30,crop_5,crop_10,crop_20,pad_20_black,letterbox_9:16,flip_h,rotate_90,"
    "rotate_4,screenshot_phone,crop_5+jpeg_30"
)


def _jaga(home: Path, *args: str) -> tuple[int, str, float]:
    """Run the ``jaga`` command (``jaga.cli.app``, in this process: the imports are paid once,
    not per scan); returns its exit code, standard output and the CPU seconds it took."""
    from typer.testing import CliRunner

    from jaga.cli import app

    os.environ["JAGA_HOME"] = str(home)
    begin = time.process_time()
    result = CliRunner().invoke(app, list(args))
    seconds = time.process_time() - begin
    if result.exit_code not in (0, 2):
        raise SystemExit(f"jaga {' '.join(args)} failed ({result.exit_code}): {result.stderr}")
    return result.exit_code, result.stdout, seconds


def _matches(stdout: str) -> dict[str, list[dict[str, Any]]]:
    lines = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    return {Path(r["path"]).name: r["matches"] for r in lines}


def main(argv: list[str] | None = None) -> int:
    import numpy as np
    from PIL import Image

    from jaga.eval.images import load_originals
    from jaga.eval.transforms import get_transforms

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", nargs="?", default=str(DEFAULT_DATA))
    parser.add_argument("--limit", type=int, default=80, help="photos used (banked and not)")
    parser.add_argument("--bank-size", type=int, default=40, help="photos added to the banks")
    parser.add_argument("--transforms", default=DEFAULT_TRANSFORMS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write every number here")
    args = parser.parse_args(argv)
    for name in [k for k in os.environ if k.startswith("JAGA_")]:
        del os.environ[name]  # a store of its own, whatever the shell has configured

    originals = load_originals(args.data_dir, args.limit)
    banked = originals[: args.bank_size]
    transforms = get_transforms([t.strip() for t in args.transforms.split(",") if t.strip()])
    with tempfile.TemporaryDirectory(prefix="jaga-real-") as folder:
        work = Path(folder)
        home, known, plain_dir = work / "home", work / "known", work / "originals"
        for directory in (known, plain_dir):
            directory.mkdir()
        for index, original in enumerate(originals):
            image = Image.fromarray(original.pixels)
            image.save(plain_dir / original.name, quality=95)
            if index < len(banked):
                image.save(known / original.name, quality=95)
        for bank, flag in (("media", "--variants"), ("plain", "--no-variants")):
            _jaga(home, "bank", "create", bank)
            _jaga(home, "bank", "add", bank, str(known), "--signals", "pdq", flag)
        _jaga(home, "scan", str(plain_dir / originals[0].name), "--no-record")  # index snapshot

        # CPU seconds per image: a scan of every photo less a scan of one (opening the store
        # and the index), best of two rounds.
        timing: dict[str, float] = {}
        one = str(plain_dir / originals[-1].name)
        for mode in ("--no-variants", "--variants"):
            rounds = []
            for _ in range(2):
                _, _, whole = _jaga(home, "scan", str(plain_dir), "--no-record", mode)
                _, _, single = _jaga(home, "scan", one, "--no-record", mode)
                rounds.append((whole - single) / max(len(originals) - 1, 1))
            timing[mode] = min(rounds)

        edited = work / "edited"
        source: dict[str, tuple[str, str]] = {}
        for transform in transforms:
            folder_t = edited / transform.name.replace(":", "-")
            folder_t.mkdir(parents=True)
            for index, original in enumerate(originals):
                seed = (args.seed * 1_000_003 + index) & 0xFFFFFFFF
                pixels = transform.apply(original.pixels, seed)
                name = f"{transform.name.replace(':', '-')}--{original.name}"
                Image.fromarray(np.ascontiguousarray(pixels)).save(folder_t / name, quality=95)
                source[name] = (transform.name, original.name)
        results: dict[str, dict[str, Any]] = {}
        for mode in ("--no-variants", "--variants"):
            _, stdout, _ = _jaga(home, "scan", str(edited), "--no-record", mode)
            results[mode] = _matches(stdout)

    banked_names = {o.name for o in banked}
    recall: dict[str, dict[str, float]] = {}
    wrong = {f"{bank} {mode}": 0 for bank in ("plain", "media") for mode in results}
    for mode, found in results.items():
        for bank in ("plain", "media"):
            key = f"{bank} {mode}"
            per: dict[str, list[int]] = {t.name: [0, 0] for t in transforms}
            for name, (transform, original) in source.items():
                hits = [m for m in found.get(name, []) if m["bank"] == bank]
                if original in banked_names:
                    per[transform][1] += 1
                    per[transform][0] += any(m["external_id"] == original for m in hits)
                    wrong[key] += any(m["external_id"] != original for m in hits)
                else:
                    wrong[key] += bool(hits)
            recall[key] = {t: 100.0 * hit / total for t, (hit, total) in per.items()}

    columns = [
        ("plain --no-variants", "plain bank, plain query"),
        ("plain --variants", "plain bank, query variants"),
        ("media --no-variants", "bank variants, plain query"),
        ("media --variants", "both sides"),
    ]
    base = timing["--no-variants"]
    print("| scan | CPU ms per image | vs --no-variants |\n|---|---|---|")
    for mode, seconds in timing.items():
        print(f"| jaga scan {mode} | {1000 * seconds:.1f} | {seconds / base:.2f}x |")
    print()
    print("| transform | " + " | ".join(label for _, label in columns) + " |")
    print("|---|" + "---|" * len(columns))
    for transform in transforms:
        cells = [f"{recall[key][transform.name]:.1f}" for key, _ in columns]
        print(f"| {transform.name} | " + " | ".join(cells) + " |")
    pooled = [sum(recall[key].values()) / max(len(transforms), 1) for key, _ in columns]
    print("| **mean** | " + " | ".join(f"**{p:.1f}**" for p in pooled) + " |")
    print("| wrong or unbanked matches | " + " | ".join(str(wrong[k]) for k, _ in columns) + " |")
    if args.json:
        Path(args.json).write_text(
            json.dumps({"seconds_per_image": timing, "recall": recall, "wrong": wrong}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Robustness of matching to edits: recall per transform and false matches, per method.

Every original in DATA_DIR (default: ../shared/data/corpus, 80 photos) is transformed by a fixed,
seeded set of edits (JPEG, resize, blur, crops, pads, letterbox, rotations, screenshots, ...),
hashed by each method (pdq, pdq-dihedral, phash, jaga-query, jaga), and matched against every
original. Writes robustness.md, robustness.json and robustness.png into --out and prints the
Markdown. The same run is ``jaga eval robustness DATA_DIR`` (see jaga.eval.robustness.run).

    .venv/bin/python benchmarks/robustness.py --out /tmp/robustness            # full corpus
    .venv/bin/python benchmarks/robustness.py --limit 20 --out /tmp/rb20       # development
    .venv/bin/python benchmarks/robustness.py --quick --methods pdq,jaga       # smoke run
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "corpus"


def main(argv: list[str] | None = None) -> int:
    from jaga.errors import JagaError
    from jaga.eval.robustness import run

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", nargs="?", default=str(DEFAULT_DATA))
    parser.add_argument("--out", default="robustness-out", help="folder for md/json/png")
    parser.add_argument("--limit", type=int, default=None, help="use the first N originals")
    parser.add_argument("--methods", default=None, help="comma-separated method names")
    parser.add_argument("--transforms", default=None, help="comma-separated transform names")
    parser.add_argument("--quick", action="store_true", help="12 originals, small lookup index")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bank-size", type=int, default=None, help="bank images for lookups")
    args = parser.parse_args(argv)

    def split(text: str | None) -> list[str] | None:
        return None if text is None else [part.strip() for part in text.split(",") if part]

    try:
        report = run(
            args.data_dir,
            args.out,
            methods=split(args.methods),
            transforms=split(args.transforms),
            quick=args.quick,
            limit=args.limit,
            seed=args.seed,
            bank_size=args.bank_size,
            progress=lambda message: print(message, file=sys.stderr, flush=True),
        )
    except JagaError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(report.to_markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

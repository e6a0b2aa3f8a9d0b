"""Meta's PDQ test images against the hashes expected of them (``DATA/pdq/expected.csv``).

A conformance check on data outside the repository (so not part of ``make test``, which must
pass without it): every image is hashed by the pipeline's exact mode and compared with the
expected hash and quality, which were computed by the ``pdqhash`` binding (Meta's reference C++)
on Pillow's RGB decode after EXIF orientation. Prints one line per mismatch and a summary;
exits 1 on any mismatch, 2 when the data is missing.

    .venv/bin/python benchmarks/pdq_expected.py                  # ../shared/data
    .venv/bin/python benchmarks/pdq_expected.py --data DIR
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from jaga.signals.hashing import HashOptions, hash_path

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding pdq/")
    args = parser.parse_args(argv)
    table = args.data / "pdq" / "expected.csv"
    if not table.exists():
        print(f"no {table}: nothing to check", file=sys.stderr)
        return 2
    with table.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    options = HashOptions(signal_types=("pdq",), exact=True)
    mismatches = 0
    for row in rows:
        (signal,) = hash_path(table.parent / row["path"], options).signals
        expected = (row["pdq_exif_oriented"], int(row["quality_exif_oriented"]))
        if (signal.hex, signal.quality) != expected:
            mismatches += 1
            print(f"MISMATCH {row['path']}: {signal.hex} q{signal.quality}, expected {expected}")
    print(f"{len(rows) - mismatches} of {len(rows)} images hash exactly as expected")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())

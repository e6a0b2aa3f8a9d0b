"""Meta's PDQ test images against their expected hashes (../shared/data/pdq/expected.csv).

Benchmark-style check on data outside the repository: skipped where ../shared is absent. The
expected values were computed by the pdqhash binding on Pillow's RGB decode after EXIF
orientation -- exactly what the exact mode of the pipeline hashes.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from jaga.signals.hashing import HashOptions, hash_path

PDQ_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "pdq"
pytestmark = [
    pytest.mark.shared,
    pytest.mark.skipif(not (PDQ_DATA / "expected.csv").exists(), reason="no ../shared/data"),
]


def _rows() -> list[dict[str, str]]:
    if not (PDQ_DATA / "expected.csv").exists():
        return []
    with (PDQ_DATA / "expected.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("row", _rows(), ids=lambda row: row["path"])
def test_exact_mode_reproduces_meta_expected_hashes(row: dict[str, str]) -> None:
    result = hash_path(PDQ_DATA / row["path"], HashOptions(signal_types=("pdq",), exact=True))
    (signal,) = result.signals
    assert signal.hex == row["pdq_exif_oriented"]
    assert signal.quality == int(row["quality_exif_oriented"])

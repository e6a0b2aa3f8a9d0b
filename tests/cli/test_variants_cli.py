"""Signal variants through the real commands: ``jaga bank add`` stores them, ``jaga scan``
matches with them, ``jaga bank export`` leaves them out, ``jaga bank disable`` takes them along.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import Result
from numpy.typing import NDArray
from PIL import Image, ImageDraw
from sqlalchemy import select
from typer.testing import CliRunner

from jaga.banks import service
from jaga.cli import app
from jaga.eval.transforms import crop, fit_in_canvas, pad
from jaga.store import Database
from jaga.store.models import AuditEvent, BankEntry

runner = CliRunner()
U8 = NDArray[np.uint8]


def _run(*args: str) -> Result:
    return runner.invoke(app, list(args))


def _ok(*args: str) -> Result:
    result = _run(*args)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def _texture(seed: int, height: int = 320, width: int = 480) -> U8:
    """A photo-like image: smooth colour noise at several scales under sharp-edged ellipses."""
    rng = np.random.default_rng(seed)
    field = np.zeros((height, width, 3), dtype=np.float32)
    for cells, weight in ((3, 1.0), (6, 0.7), (12, 0.5), (24, 0.35), (48, 0.2)):
        grid = rng.random((cells, max(2, round(cells * width / height)), 3)).astype(np.float32)
        layers = [
            np.asarray(
                Image.fromarray(grid[..., c]).resize((width, height), Image.Resampling.BICUBIC)
            )
            for c in range(3)
        ]
        field += weight * np.stack(layers, axis=-1)
    field = (field - field.min()) / (field.max() - field.min())
    picture = Image.fromarray((40 + 175 * field).astype(np.uint8))
    draw = ImageDraw.Draw(picture)
    for _ in range(80):
        w, h = rng.uniform(0.04, 0.25) * width, rng.uniform(0.04, 0.25) * height
        x, y = rng.uniform(-0.1, 1.0) * width, rng.uniform(-0.1, 1.0) * height
        colour = tuple(int(v) for v in rng.integers(30, 230, 3))
        draw.ellipse((x, y, x + w, y + h), fill=colour)  # type: ignore[arg-type]
    return np.asarray(picture)


def _write(path: Path, pixels: U8, quality: int = 85) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format="JPEG", quality=quality)
    return path


Edit = Callable[[U8], U8]
EDITS: dict[str, Edit] = {
    "crop8": lambda im: crop(im, 0.08, 0.08, 0.08, 0.08),
    "pad20": lambda im: pad(im, 0.2, (0, 0, 0)),
    "letterbox": lambda im: fit_in_canvas(im, 540, 960, (0, 0, 0)),
    "turn90": lambda im: np.ascontiguousarray(np.rot90(im)),
}


@pytest.fixture
def scene(home: Path, tmp_path: Path) -> dict[str, Path]:
    """Banks "media" (pictures 1-3 added with variants, the default) and "plain" (the same,
    ``--no-variants``); a scan folder of edited copies of picture 1 and unrelated pictures."""
    known = tmp_path / "known"
    for seed in (1, 2, 3):
        _write(known / f"p{seed}.jpg", _texture(seed))
    _ok("bank", "create", "media")
    added = _ok("bank", "add", "media", str(known), "--labels", "A1", "--signals", "pdq")
    assert "added 3 entries to 'media'" in added.stdout
    assert "variant hashes with them" in added.stdout
    _ok("bank", "create", "plain")
    bare = _ok("bank", "add", "plain", str(known), "--signals", "pdq", "--no-variants")
    assert "variant" not in bare.stdout
    scan = tmp_path / "scan"
    paths = {
        name: _write(scan / f"{name}.jpg", edit(_texture(1)), 80) for name, edit in EDITS.items()
    }
    for seed in (40, 41, 42, 43):
        _write(scan / f"other{seed}.jpg", _texture(seed))
    paths["folder"], paths["known"] = scan, known
    return paths


def _scan(*args: str) -> tuple[int, dict[str, list[dict[str, Any]]]]:
    result = _run("scan", *args)
    assert result.exit_code in (0, 2), (result.stdout, result.stderr)
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return result.exit_code, {Path(r["path"]).stem: r["matches"] for r in lines}


def _entry_ids(db: Database, bank: str) -> dict[str, int]:
    with db.session() as session:
        return {e.external_id: e.id for e in service.page_entries(session, bank).entries}


def test_scan_finds_edited_copies_through_both_sides(
    scene: dict[str, Path], store: Database
) -> None:
    code, found = _scan(str(scene["folder"]))
    assert code == 2
    assert sorted(found) == ["crop8", "letterbox", "pad20", "turn90"]  # no unrelated picture
    media, plain = _entry_ids(store, "media")["p1.jpg"], _entry_ids(store, "plain")["p1.jpg"]
    # The crop only through the bank's stored crops; the rest through the upload's variants,
    # against banks with and without variant rows.
    (crop_match,) = found["crop8"]
    assert (crop_match["bank"], crop_match["entry_id"]) == ("media", media)
    assert crop_match["entry_variant"].startswith("crop:")
    assert crop_match["labels"] == ["A1"]
    assert crop_match["external_id"] == "p1.jpg"
    for name, how in (("pad20", "trim"), ("letterbox", "trim"), ("turn90", "turn")):
        by_bank = {m["bank"]: m for m in found[name]}
        assert sorted(by_bank) == ["media", "plain"], name
        assert by_bank["plain"]["entry_id"] == plain
        assert by_bank["media"]["entry_id"] == media
        assert by_bank["plain"]["variant"].startswith(how), name
        assert by_bank["plain"]["entry_variant"] == ""


def test_each_side_alone(scene: dict[str, Path], store: Database) -> None:
    # Without query variants: the plain hash of the cropped copy still meets the bank's crops.
    code, found = _scan(str(scene["folder"]), "--no-variants", "--no-dihedral")
    assert code == 2
    assert sorted(found) == ["crop8"]
    assert [(m["bank"], m["variant"]) for m in found["crop8"]] == [("media", "")]
    # The dihedral shortcut alone finds the quarter turn, as before variants.
    code, found = _scan(str(scene["folder"]), "--no-variants")
    assert sorted(found) == ["crop8", "turn90"]
    # Query variants against the bank without variant rows: everything but the crop.
    code, found = _scan(str(scene["folder"]), "--bank", "plain")
    assert sorted(found) == ["letterbox", "pad20", "turn90"]


def test_bank_listing_counts_entries_and_variant_hashes_apart(
    scene: dict[str, Path], store: Database
) -> None:
    with store.session() as session:
        assert service.entry_counts(session, "media") == {"pdq": 3}
        variants = service.entry_counts(session, "media", variants=True)["pdq"]
        assert service.entry_counts(session, "plain", variants=True) == {}
    assert 3 * 5 <= variants <= 3 * 8  # crops and the square, and a trim where there is one
    listing = _ok("bank", "list").stdout  # a table: the cell may wrap
    assert f"(+{variants}" in listing
    assert "variant" in listing
    with store.session() as session:
        details = session.scalars(
            select(AuditEvent.details).where(AuditEvent.action == "bank.add")
        ).first()
    assert details is not None
    assert json.loads(details)["variant_hashes"] == variants


def test_export_leaves_variant_hashes_out(scene: dict[str, Path], store: Database) -> None:
    exported = _ok("bank", "export", "media")
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert len(rows) == 3
    with store.session() as session:
        plain = {e.value.hex() for e in service.page_entries(session, "media").entries}
    assert {r["value"] for r in rows} == plain
    assert "exported 3 entries" in exported.stderr


def test_disabling_an_entry_disables_its_variants(scene: dict[str, Path], store: Database) -> None:
    entry = _entry_ids(store, "media")["p1.jpg"]
    _ok("bank", "disable", "media", str(entry))
    code, found = _scan(str(scene["crop8"]))
    assert (code, found) == (0, {})
    with store.session() as session:
        rows = list(session.scalars(select(BankEntry).where(BankEntry.parent_id == entry)))
    assert rows
    assert all(r.disabled_until is not None for r in rows)
    _ok("bank", "enable", "media", str(entry))
    code, found = _scan(str(scene["crop8"]))
    assert code == 2
    assert [m["entry_id"] for m in found["crop8"]] == [entry]


def test_allow_lists_get_no_variants_unless_asked(
    home: Path, store: Database, tmp_path: Path
) -> None:
    image = _write(tmp_path / "fp.jpg", _texture(7))
    _ok("bank", "create", "fp", "--kind", "allow")
    _ok("bank", "add", "fp", str(image), "--signals", "pdq")
    with store.session() as session:
        assert service.entry_counts(session, "fp", variants=True) == {}
    added = _ok("bank", "add", "fp", str(image), "--signals", "pdq", "--variants")
    assert "added 0 entries to 'fp', 1 already there" in added.stdout
    with store.session() as session:
        assert service.entry_counts(session, "fp", variants=True)["pdq"] >= 5

"""``jaga hash``: records per file, error records for bad files, formats, workers, exit codes."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from jaga.cli import app

runner = CliRunner()


def _jpeg(seed: int, size: tuple[int, int] = (160, 120)) -> bytes:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    image = Image.fromarray(small).resize(size, Image.Resampling.BILINEAR)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


@pytest.fixture
def media_tree(tmp_path: Path) -> Path:
    """good.jpg, sub/also.png, a corrupt JPEG, a text file, and hidden entries to be skipped."""
    root = tmp_path / "media"
    (root / "sub").mkdir(parents=True)
    (root / ".hidden").mkdir()
    (root / "a-good.jpg").write_bytes(_jpeg(1))
    png = io.BytesIO()
    Image.open(io.BytesIO(_jpeg(2))).save(png, format="PNG")
    (root / "sub" / "also.png").write_bytes(png.getvalue())
    (root / "b-corrupt.jpg").write_bytes(_jpeg(3)[:300])
    (root / "c-notes.txt").write_text("not media")
    (root / ".secret.jpg").write_bytes(_jpeg(4))
    (root / ".hidden" / "inside.jpg").write_bytes(_jpeg(5))
    return root


def _records(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_hash_a_folder_writes_one_record_per_file_and_error_records(media_tree: Path) -> None:
    result = runner.invoke(app, ["hash", str(media_tree)])
    assert result.exit_code == 1  # two files failed
    records = _records(result.stdout)
    names = [Path(r["path"]).relative_to(media_tree).as_posix() for r in records]
    assert names == ["a-good.jpg", "b-corrupt.jpg", "c-notes.txt", "sub/also.png"]
    good = records[0]
    assert (good["kind"], good["format"], good["width"], good["height"]) == (
        "image",
        "JPEG",
        160,
        120,
    )
    assert [s["type"] for s in good["signals"]] == ["pdq", "md5", "sha1", "sha256"]
    data = (media_tree / "a-good.jpg").read_bytes()
    assert good["signals"][3]["hash"] == hashlib.sha256(data).hexdigest()
    assert len(good["signals"][0]["hash"]) == 64
    assert records[1]["error"]["type"] == "CorruptMedia"
    assert records[2]["error"]["type"] == "UnsupportedMedia"
    assert set(records[1]) == {"path", "error"}
    assert records[3]["format"] == "PNG"
    assert "2 failed" in result.stderr


def test_hidden_files_named_explicitly_are_hashed(media_tree: Path) -> None:
    result = runner.invoke(app, ["hash", str(media_tree / ".secret.jpg"), "--signal", "md5"])
    assert result.exit_code == 0, result.output
    (record,) = _records(result.stdout)
    assert record["signals"] == [
        {"type": "md5", "hash": hashlib.md5((media_tree / ".secret.jpg").read_bytes()).hexdigest()}
    ]


def test_missing_file_is_an_error_record_not_a_crash(tmp_path: Path) -> None:
    result = runner.invoke(app, ["hash", str(tmp_path / "nope.jpg")])
    assert result.exit_code == 1
    (record,) = _records(result.stdout)
    assert record["path"].endswith("nope.jpg")
    assert record["error"]["type"] in {"MediaNotFound", "UnreadableFile"}
    assert "\n" not in record["error"]["message"]


def test_csv_output_to_a_file_with_selected_signals(media_tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "hashes.csv"
    args = ["hash", str(media_tree / "a-good.jpg"), str(media_tree / "b-corrupt.jpg")]
    result = runner.invoke(
        app, [*args, "--signal", "pdq,sha1", "--format", "csv", "--out", str(out)]
    )
    assert result.exit_code == 1
    assert result.stdout == ""
    rows = list(csv.DictReader(out.open()))
    assert [(Path(r["path"]).name, r["signal_type"], r["error_type"]) for r in rows] == [
        ("a-good.jpg", "pdq", ""),
        ("a-good.jpg", "sha1", ""),
        ("b-corrupt.jpg", "", "CorruptMedia"),
    ]
    assert rows[0]["quality"] != ""
    assert rows[1]["hash"] == hashlib.sha1((media_tree / "a-good.jpg").read_bytes()).hexdigest()


def test_dihedral_and_exact_flags(media_tree: Path) -> None:
    path = str(media_tree / "a-good.jpg")
    result = runner.invoke(app, ["hash", path, "--signal", "pdq", "--dihedral", "--exact"])
    assert result.exit_code == 0, result.output
    (record,) = _records(result.stdout)
    variants = [s.get("variant", "") for s in record["signals"]]
    assert variants == [
        "",
        "rot90",
        "rot180",
        "rot270",
        "flipx",
        "flipy",
        "flip_plus1",
        "flip_minus1",
    ]


def test_variants_flag_adds_the_named_query_variants(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(_jpeg(7, (320, 240)))
    plain = runner.invoke(app, ["hash", str(path), "--signal", "pdq"])
    assert plain.exit_code == 0, plain.output
    (record,) = _records(plain.stdout)
    assert [s.get("variant", "") for s in record["signals"]] == [""]

    result = runner.invoke(app, ["hash", str(path), "--signal", "pdq", "--variants"])
    assert result.exit_code == 0, result.output
    (record,) = _records(result.stdout)
    names = [s.get("variant", "") for s in record["signals"]]
    assert names[0] == ""
    assert {"turn90", "turn180", "turn270", "mirror"} <= set(names)
    assert all(s["type"] == "pdq" and len(s["hash"]) == 64 for s in record["signals"])


def test_unknown_signal_type_is_a_usage_error(media_tree: Path) -> None:
    result = runner.invoke(app, ["hash", str(media_tree), "--signal", "pdq,photodna"])
    assert result.exit_code == 2
    assert "photodna" in result.output


def test_worker_processes_give_the_same_records(media_tree: Path) -> None:
    serial = runner.invoke(app, ["hash", str(media_tree)])
    parallel = runner.invoke(app, ["hash", str(media_tree), "--workers", "2"])
    assert parallel.exit_code == serial.exit_code == 1
    assert _records(parallel.stdout) == _records(serial.stdout)


def test_python_dash_m_jaga_runs_in_a_real_process(media_tree: Path) -> None:
    path = media_tree / "a-good.jpg"
    process = subprocess.run(
        [sys.executable, "-m", "jaga", "hash", str(path), "--signal", "sha256"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert process.returncode == 0, process.stderr
    (record,) = _records(process.stdout)
    assert record["signals"] == [
        {"type": "sha256", "hash": hashlib.sha256(path.read_bytes()).hexdigest()}
    ]
    assert "hashed 1 file(s), 0 failed" in process.stderr


def test_no_arguments_prints_help() -> None:
    result = runner.invoke(app, [])
    assert "hash" in result.output

"""``jaga scan``: exit codes, JSON lines, bank restriction, match log, allow-lists, videos."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from click.testing import Result
from PIL import Image, ImageOps
from sqlalchemy import func, select
from typer.testing import CliRunner

from jaga.banks import service
from jaga.cli import app
from jaga.store import Database
from jaga.store.models import Content, ContentSignal, MatchRecord

runner = CliRunner()


def _run(*args: str) -> Result:
    return runner.invoke(app, list(args))


def _ok(*args: str) -> Result:
    result = _run(*args)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _half_size(image: Image.Image) -> Image.Image:
    return image.resize((image.width // 2, image.height // 2))


@pytest.fixture
def scene(home: Path, tmp_path: Path, pictures: Any) -> dict[str, Path]:
    """A bank "known" of pictures 1 and 2 (labelled A1), a scan folder holding a half-size
    copy of 1, a mirrored copy of 2, two unrelated pictures and a broken file."""
    known = tmp_path / "known"
    pictures.write(known / "one.jpg", 1)
    pictures.write(known / "two.jpg", 2)
    _ok("bank", "create", "known")
    _ok("bank", "add", "known", str(known), "--labels", "A1", "--signals", "pdq")
    scan = tmp_path / "scan"
    paths = {
        "half": pictures.write(scan / "a-half.jpg", 1, alter=_half_size, quality=60),
        "mirrored": pictures.write(scan / "b-mirrored.jpg", 2, alter=ImageOps.mirror),
        "other": pictures.write(scan / "c-other.jpg", 10),
        "more": pictures.write(scan / "d-more.jpg", 11),
    }
    broken = scan / "e-broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0" + bytes(300))
    paths["broken"] = broken
    paths["folder"] = scan
    paths["known"] = known
    return paths


def _count(db: Database, model: type[Any]) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_matches_exit_2_even_with_failed_files(
    scene: dict[str, Path], store: Database, tmp_path: Path
) -> None:
    out = tmp_path / "matches.jsonl"
    result = _run("scan", str(scene["folder"]), "--out", str(out))
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert "e-broken.jpg" in result.stderr  # the failure is reported...
    assert "scanned 5 file(s): 2 matched, 1 failed" in " ".join(result.stderr.split())
    records = _lines(out)  # ...and the matches are not hidden behind it
    assert [Path(r["path"]).name for r in records] == ["a-half.jpg", "b-mirrored.jpg"]
    with store.session() as session:
        entries = {e.external_id: e.id for e in service.page_entries(session, "known").entries}
    half, mirrored = records
    assert half["cancelled_by_allow_list"] == []
    assert half["allow_list"] == []
    (match,) = half["matches"]
    assert match["bank"] == "known"
    assert match["entry_id"] == entries["one.jpg"]
    assert match["signal_type"] == "pdq"
    assert 0 < match["distance"] <= 31
    # The nearest of the plain hash and its variants (a half-size copy may be nearer through a
    # central crop: both sides resample crops to 64x64).
    assert match["variant"] in ("", "crop:1", "crop:2", "crop:3")
    assert match["entry_variant"] in ("", "crop:4", "crop:8", "square")
    assert match["frame"] is None
    assert match["labels"] == ["A1"]
    assert match["external_id"] == "one.jpg"
    (match,) = mirrored["matches"]
    assert match["entry_id"] == entries["two.jpg"]
    assert match["variant"] not in ("", None)  # found through a rotated/flipped hash
    # The match log: one content row per matched file, with its signals and match rows.
    with store.session() as session:
        contents = list(session.scalars(select(Content).order_by(Content.id)))
        assert [Path(c.external_id).name for c in contents] == ["a-half.jpg", "b-mirrored.jpg"]
        assert contents[0].external_id == str(scene["half"].resolve())
        assert contents[0].kind == "image"
        assert contents[0].size == scene["half"].stat().st_size
        records_ = list(session.scalars(select(MatchRecord).order_by(MatchRecord.id)))
        assert [(r.content_id, r.entry_id, r.bank_name) for r in records_] == [
            (contents[0].id, entries["one.jpg"], "known"),
            (contents[1].id, entries["two.jpg"], "known"),
        ]
        assert records_[0].distance == half["matches"][0]["distance"]
        assert not any(r.cancelled_by_allow for r in records_)
        signals = list(
            session.execute(
                select(ContentSignal.signal_type, ContentSignal.variant).where(
                    ContentSignal.content_id == contents[0].id
                )
            )
        )
    # md5, sha1, sha256; the plain PDQ hash, its variants, and the three dihedral shortcut
    # hashes the variants' real turns and mirror do not cover.
    assert sorted(st for st, _ in signals if st != "pdq") == ["md5", "sha1", "sha256"]
    pdq = {variant for st, variant in signals if st == "pdq"}
    assert {"", "turn90", "turn180", "turn270", "mirror", "flipx", "flip_plus1"} <= pdq
    assert "flip_minus1" in pdq
    assert not {"rot90", "rot180", "rot270", "flipy"} & pdq


def test_no_match_exits_0(scene: dict[str, Path], store: Database, tmp_path: Path) -> None:
    out = tmp_path / "none.jsonl"
    result = _run("scan", str(scene["other"]), str(scene["more"]), "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert out.read_text() == ""
    assert "scanned 2 file(s): 0 matched, 0 failed" in result.stderr
    assert _count(store, Content) == 0
    # Without the dihedral hashes and the variants the mirrored copy is not found.
    mirrored = _run(
        "scan", str(scene["mirrored"]), "--no-dihedral", "--no-variants", "--out", str(out)
    )
    assert mirrored.exit_code == 0
    assert out.read_text() == ""


def test_only_errors_exit_1(scene: dict[str, Path], store: Database, tmp_path: Path) -> None:
    result = _run("scan", str(scene["broken"]), str(tmp_path / "absent.jpg"))
    assert result.exit_code == 1
    assert "scanned 2 file(s): 0 matched, 2 failed" in " ".join(result.stderr.split())
    assert "absent.jpg" in result.stderr
    assert "Traceback" not in result.output
    # Errors with a file that does not match: still 1.
    assert _run("scan", str(scene["broken"]), str(scene["other"])).exit_code == 1


def test_bank_restriction(
    scene: dict[str, Path], store: Database, tmp_path: Path, pictures: Any
) -> None:
    _ok("bank", "create", "second")
    _ok("bank", "add", "second", str(scene["known"] / "one.jpg"), "--signals", "pdq")
    _ok("bank", "create", "empty")
    out = tmp_path / "out.jsonl"
    assert _run("scan", str(scene["half"]), "--out", str(out)).exit_code == 2
    assert sorted(m["bank"] for m in _lines(out)[0]["matches"]) == ["known", "second"]
    assert _run("scan", str(scene["half"]), "-b", "second", "--out", str(out)).exit_code == 2
    assert [m["bank"] for m in _lines(out)[0]["matches"]] == ["second"]
    both = _run("scan", str(scene["half"]), "-b", "second", "-b", "known", "--out", str(out))
    assert both.exit_code == 2
    assert len(_lines(out)[0]["matches"]) == 2
    assert _run("scan", str(scene["half"]), "--bank", "empty", "--out", str(out)).exit_code == 0
    assert out.read_text() == ""
    _ok("bank", "update", "second", "--disable")
    off = _run("scan", str(scene["half"]), "--bank", "second", "--out", str(out))
    assert off.exit_code == 0
    assert "bank 'second' is disabled" in " ".join(off.stderr.split())
    unknown = _run("scan", str(scene["half"]), "--bank", "knwon")
    assert unknown.exit_code == 1
    assert "no bank named 'knwon'; did you mean 'known'?" in " ".join(unknown.stderr.split())
    assert "Traceback" not in unknown.output


def test_no_record_leaves_the_match_log_alone(scene: dict[str, Path], store: Database) -> None:
    result = _run("scan", str(scene["folder"]), "--no-record")
    assert result.exit_code == 2
    assert _count(store, Content) == 0
    assert _count(store, MatchRecord) == 0
    assert _count(store, ContentSignal) == 0


def test_stdout_holds_only_json_lines(scene: dict[str, Path]) -> None:
    result = _run("scan", str(scene["folder"]))
    assert result.exit_code == 2
    records = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert [Path(r["path"]).name for r in records] == ["a-half.jpg", "b-mirrored.jpg"]
    assert "Matches" in result.stderr  # the human summary goes to standard error


def test_allow_list_cancels_and_is_logged(
    scene: dict[str, Path], store: Database, tmp_path: Path
) -> None:
    _ok("bank", "create", "fp", "--kind", "allow")
    _ok("bank", "add", "fp", str(scene["known"] / "two.jpg"), "--signals", "pdq")
    out = tmp_path / "out.jsonl"
    result = _run("scan", str(scene["mirrored"]), str(scene["half"]), "--out", str(out))
    assert result.exit_code == 2  # the half-size copy of picture 1 still matches
    assert "1 cancelled by an allow-list" in result.stderr
    mirrored, half = _lines(out)
    assert Path(mirrored["path"]).name == "b-mirrored.jpg"
    assert mirrored["matches"] == []
    assert [m["bank"] for m in mirrored["cancelled_by_allow_list"]] == ["known"]
    assert [m["bank"] for m in mirrored["allow_list"]] == ["fp"]
    assert [m["bank"] for m in half["matches"]] == ["known"]
    with store.session() as session:
        allow_entry = service.page_entries(session, "fp").entries[0].id
        rows = list(session.scalars(select(MatchRecord).order_by(MatchRecord.id)))
    by_bank = {(r.bank_name, r.cancelled_by_allow) for r in rows}
    assert by_bank == {("known", True), ("fp", False), ("known", False)}
    cancelled = next(r for r in rows if r.cancelled_by_allow)
    assert cancelled.allow_entry_id == allow_entry
    # Only the cancelled file: nothing stands, exit 0.
    assert _run("scan", str(scene["mirrored"])).exit_code == 0


def test_new_entries_are_found_by_the_next_scan(
    scene: dict[str, Path], store: Database, home: Path, pictures: Any
) -> None:
    """A scan saves the index; the next scan opens it and catches up on bank changes."""
    assert _run("scan", str(scene["other"]), "--no-record").exit_code == 0
    assert (home / "index" / "manifest.json").exists()
    _ok("bank", "add", "known", str(scene["other"]), "--signals", "pdq")
    assert _run("scan", str(scene["other"]), "--no-record").exit_code == 2
    with store.session() as session:
        entry = service.page_entries(session, "known").entries[-1].id
    _ok("bank", "disable", "known", str(entry))
    assert _run("scan", str(scene["other"]), "--no-record").exit_code == 0


def _video(frames: list[Image.Image], size: tuple[int, int], rate: int = 4) -> bytes:
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=rate)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for image in frames:
            frame = av.VideoFrame.from_ndarray(np.asarray(image.resize(size)), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def test_videos_match_videos_and_still_images(
    home: Path, store: Database, tmp_path: Path, pictures: Any
) -> None:
    scenes = [pictures.image(seed) for seed in (20, 21, 22, 23)]
    clip = [image for image in scenes for _ in range(4)]  # 4 s at 4 fps: one image a second
    known = tmp_path / "known.mp4"
    known.write_bytes(_video(clip, (160, 120)))
    copy = tmp_path / "scan" / "copy.mp4"
    copy.parent.mkdir()
    copy.write_bytes(_video(clip, (128, 96)))
    still = pictures.write(tmp_path / "still.jpg", 22)
    _ok("bank", "create", "videos")
    _ok("bank", "add", "videos", str(known))
    _ok("bank", "create", "images")
    _ok("bank", "add", "images", str(still), "--signals", "pdq")
    with store.session() as session:
        counts = service.entry_counts(session, "videos")
    assert counts == {"vpdq": 1, "md5": 1}
    out = tmp_path / "out.jsonl"
    result = _run("scan", str(copy), "--out", str(out))
    assert result.exit_code == 2, result.stderr
    (record,) = _lines(out)
    by_bank = {m["bank"]: m for m in record["matches"]}
    assert sorted(by_bank) == ["images", "videos"]
    video = by_bank["videos"]
    assert video["signal_type"] == "vpdq"
    assert video["query_percent"] == 100.0
    assert video["target_percent"] == 100.0
    image = by_bank["images"]
    assert image["signal_type"] == "pdq"
    assert image["frame"] is not None  # the video frame that showed the still image
    with store.session() as session:
        rows = list(session.scalars(select(MatchRecord).where(MatchRecord.bank_name == "videos")))
    assert [(r.query_percent, r.target_percent) for r in rows] == [(100.0, 100.0)]


def test_a_real_process(scene: dict[str, Path], home: Path) -> None:
    """``python -m jaga scan`` as a user runs it: exit code, JSON lines on stdout, summary."""
    env = {**os.environ, "JAGA_HOME": str(home)}
    env.pop("JAGA_DATABASE_URL", None)
    completed = subprocess.run(
        [sys.executable, "-m", "jaga", "scan", str(scene["folder"]), "--bank", "known"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 2, completed.stderr
    records = [json.loads(line) for line in completed.stdout.splitlines() if line.strip()]
    assert [Path(r["path"]).name for r in records] == ["a-half.jpg", "b-mirrored.jpg"]
    assert "Traceback" not in completed.stderr
    assert "2 matched, 1 failed" in completed.stderr


def test_file_names_are_never_taken_for_markup(
    scene: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    odd = tmp_path / "odd"
    broken = odd / "x[" / "draft].jpg"  # the path holds "[/draft]": a closing tag to rich
    broken.parent.mkdir(parents=True)
    broken.write_bytes(scene["broken"].read_bytes())
    copy = odd / "m[red].jpg"
    copy.write_bytes(scene["half"].read_bytes())
    monkeypatch.chdir(odd)  # short relative paths: the table does not fold them
    result = _run("scan", ".")
    assert result.exit_code == 2, result.output
    assert "skipped x[/draft].jpg: CorruptMedia" in result.stderr
    assert "m[red].jpg" in result.stderr  # in the summary table, brackets and all
    records = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert [Path(r["path"]).name for r in records] == ["m[red].jpg"]


def test_an_index_that_cannot_be_saved_hides_no_match(
    scene: dict[str, Path], store: Database, home: Path
) -> None:
    (home / "index.lock").mkdir()  # the snapshot's lock file cannot be opened
    result = _run("scan", str(scene["half"]))
    assert result.exit_code == 2, result.output
    assert "could not save the index" in result.stderr
    assert not (home / "index").exists()

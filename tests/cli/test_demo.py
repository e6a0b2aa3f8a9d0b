"""``make demo`` (``python -m jaga.demo``) on the scikit-image photos, as on a machine without
../shared: every altered copy is found, no unrelated photo is."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from jaga import demo


def test_the_demo_finds_every_altered_copy_and_nothing_else(tmp_path: Path) -> None:
    work = tmp_path / "demo"
    env = {**os.environ, "JAGA_DEMO_DIR": str(work), "JAGA_DEMO_PHOTOS": "skimage"}
    env.pop("JAGA_HOME", None)
    completed = subprocess.run(
        [sys.executable, "-m", "jaga.demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    found = re.search(
        r"(\d+) of (\d+) altered copies matched; (\d+) of (\d+) unrelated photos matched",
        completed.stdout,
    )
    assert found is not None, completed.stdout
    matched, altered, wrong, unrelated = (int(g) for g in found.groups())
    assert matched == altered == len(demo.ALTERATIONS)
    assert wrong == 0
    assert unrelated >= 8
    # The photos came from the scikit-image wheel, not ../shared.
    known = sorted(p.stem for p in (work / "known").iterdir())
    assert "astronaut" in known
    assert not any(name.startswith("cq100-") for name in known)
    # The scan's own output agrees: exactly the altered copies have matches.
    records = [json.loads(line) for line in (work / "matches.jsonl").read_text().splitlines()]
    names = sorted(Path(r["path"]).name for r in records if r["matches"])
    expected = sorted(
        f"{stem}-{name}.jpg" for (name, _), stem in zip(demo.ALTERATIONS, known, strict=False)
    )
    assert names == expected
    assert (work / "home" / "jaga.db").exists()


def test_photo_choice_skips_textures_and_untrustworthy_hashes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JAGA_DEMO_PHOTOS", "skimage")
    known, unrelated = demo._choose(Path("/nonexistent/repo"))
    names = [p.stem for p in known]
    assert len(names) == len(demo.ALTERATIONS) + 2
    assert set(names) <= set(demo.SKIMAGE_PHOTOS)
    # Textures and the motion-blurred clock (PDQ quality under 50) are unrelated images only.
    others = {p.stem for p in unrelated}
    assert {"brick", "grass", "gravel", "clock_motion"} <= others
    assert not others & set(names)


def test_a_folder_of_photos_can_be_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for k in range(3):
        Image.new("RGB", (300, 300), (k * 80, 10, 10)).save(tmp_path / f"p{k}.jpg")
    monkeypatch.setenv("JAGA_DEMO_PHOTOS", str(tmp_path))
    candidates, others = demo._photos(Path("/nonexistent/repo"))
    assert [p.name for p in candidates] == ["p0.jpg", "p1.jpg", "p2.jpg"]
    assert others == []

"""``make demo``: the main job end to end on the embedded default (SQLite, in process).

Builds a bank from a few benign photos (their hashes stand in for known material), makes a folder
of altered copies of some of them mixed with unrelated photos and one broken file, and runs
``jaga scan`` over it. Photos come from ``../shared/data/corpus`` when it exists, else from the
scikit-image wheel; ``JAGA_DEMO_PHOTOS`` names another folder of JPEGs, or ``skimage`` to use the
wheel's photos even where the corpus exists. Every step is a real ``jaga`` command, printed
before it runs. The demo ends by checking what it claims: every altered copy matched and no
unrelated photo did (exit status 1 otherwise).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from jaga.signals.pdq import PDQ_MIN_QUALITY, pdq_hash

Alteration = tuple[str, Callable[[Image.Image], Image.Image]]


def _crop_each_side(fraction: float) -> Callable[[Image.Image], Image.Image]:
    """Cut ``fraction`` of the width from the left and right, of the height from top and bottom.

    PDQ hashes the whole frame, so it tolerates only slight crops: at 1% a side the corpus
    photos stay within 30 bits, at 2-3% a side most of them do not (see jaga.eval).
    """

    def crop(im: Image.Image) -> Image.Image:
        dx, dy = max(1, round(im.width * fraction)), max(1, round(im.height * fraction))
        return im.crop((dx, dy, im.width - dx, im.height - dy))

    return crop


ALTERATIONS: list[Alteration] = [
    ("half-size-jpeg60", lambda im: im.resize((im.width // 2, im.height // 2))),
    ("mirrored", ImageOps.mirror),
    ("rotated90", lambda im: im.rotate(90, expand=True)),
    ("greyscale", lambda im: ImageOps.grayscale(im).convert("RGB")),
    ("cropped1pct", _crop_each_side(0.01)),
    ("brighter", lambda im: Image.eval(im, lambda v: min(255, int(v * 1.25)))),
]

#: Photographs among the scikit-image sample images. The others are textures (brick, grass,
#: gravel), microscopy, synthetic test patterns or text: they stay in the demo as unrelated
#: images, but do not stand in for photos of known material (PDQ, a global hash, is fragile on
#: flat-spectrum textures: a mirrored brick wall is 84 bits from its best dihedral match).
SKIMAGE_PHOTOS = (
    "astronaut",
    "camera",
    "chelsea",
    "coffee",
    "coins",
    "hubble_deep_field",
    "moon",
    "motorcycle_left",
    "retina",
    "rocket",
)


def _photos(repo: Path) -> tuple[list[Path], list[Path]]:
    """Candidate photos for known material (in order), and the other images of the source."""
    choice = os.environ.get("JAGA_DEMO_PHOTOS", "")
    corpus = Path(choice) if choice and choice != "skimage" else repo.parent / "shared/data/corpus"
    if choice != "skimage" and corpus.is_dir():
        photos = sorted(corpus.glob("*.jpg"))
        return photos, []
    import skimage

    data = Path(skimage.__file__).parent / "data"
    images = [p for p in sorted(data.iterdir()) if p.suffix in {".png", ".jpg"} and _usable(p)]
    return [p for p in images if p.stem in SKIMAGE_PHOTOS], [
        p for p in images if p.stem not in SKIMAGE_PHOTOS
    ]


def _usable(path: Path) -> bool:
    with Image.open(path) as im:
        return im.mode in {"RGB", "L"} and min(im.size) >= 256


def _trustworthy(path: Path) -> bool:
    """PDQ quality at or above the floor under which Jaga does not match a hash at all: a
    photo under it (motion blur, flat areas) cannot stand in for known material."""
    with Image.open(path) as im:
        return pdq_hash(np.asarray(im.convert("RGB")))[1] >= PDQ_MIN_QUALITY


def _choose(repo: Path) -> tuple[list[Path], list[Path]]:
    """The photos that stand in for known material, and the unrelated ones."""
    candidates, others = _photos(repo)
    wanted = len(ALTERATIONS) + 2
    known: list[Path] = []
    rest: list[Path] = []
    for path in candidates:
        if len(known) < wanted and _trustworthy(path):
            known.append(path)
        else:
            rest.append(path)
    return known, (rest + others)[:20]


def _run(args: list[str], env: dict[str, str], *, expect: tuple[int, ...] = (0,)) -> int:
    print(f"\n$ jaga {shlex.join(args)}", flush=True)
    code = subprocess.run([sys.executable, "-m", "jaga", *args], env=env, check=False).returncode
    if code not in expect:
        sys.exit(f"demo failed: 'jaga {args[0]}' exited {code}")
    return code


def main() -> None:
    repo = Path(__file__).resolve().parents[2]
    work = Path(os.environ.get("JAGA_DEMO_DIR", repo / "var" / "demo"))
    shutil.rmtree(work, ignore_errors=True)
    known_dir, scan_dir = work / "known", work / "scan"
    known_dir.mkdir(parents=True)
    scan_dir.mkdir()
    env = {**os.environ, "JAGA_HOME": str(work / "home")}
    env.pop("JAGA_DATABASE_URL", None)

    known, unrelated = _choose(repo)
    if len(known) < len(ALTERATIONS):
        sys.exit(f"demo failed: only {len(known)} usable photos, {len(ALTERATIONS)} needed")
    for path in known:
        Image.open(path).convert("RGB").save(known_dir / f"{path.stem}.jpg", quality=95)
    for (name, alter), path in zip(ALTERATIONS, known, strict=False):
        altered = alter(Image.open(path).convert("RGB"))
        altered.save(scan_dir / f"{path.stem}-{name}.jpg", quality=60)
    rng = np.random.default_rng(7)
    for path in unrelated:
        Image.open(path).convert("RGB").save(scan_dir / f"{path.stem}.jpg", quality=85)
    (scan_dir / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + rng.bytes(200))

    print(f"Demo folder: {work}")
    print(
        f"  {len(known)} photos stand in for known material; the scan folder holds "
        f"{len(ALTERATIONS)} altered copies of them, {len(unrelated)} unrelated photos and one "
        "broken file."
    )
    _run(["bank", "create", "demo-known", "--description", "demo stand-ins"], env)
    _run(
        [
            "bank",
            "add",
            "demo-known",
            "--labels",
            "A1",
            "--source",
            "demo",
            *(str(p) for p in sorted(known_dir.iterdir())),
        ],
        env,
    )
    _run(["bank", "list"], env)
    out = work / "matches.jsonl"
    code = _run(
        ["scan", str(scan_dir), "--bank", "demo-known", "--out", str(out)], env, expect=(0, 1, 2)
    )
    pairs = zip(ALTERATIONS, known, strict=False)
    copies = {f"{path.stem}-{name}.jpg" for (name, _), path in pairs}
    matched = _matched_files(out)
    found, wrong = copies & matched, matched - copies
    print(
        f"\njaga scan exited {code} (2 = matches found); {len(found)} of {len(copies)} altered "
        f"copies matched; {len(wrong)} of {len(unrelated)} unrelated photos matched; "
        f"the match log is in {work / 'home' / 'jaga.db'}, matches in {out}."
    )
    for name in sorted(copies - found):
        print(f"  missed: {name}")
    for name in sorted(wrong):
        print(f"  matched but unrelated: {name}")
    if found != copies or wrong:
        sys.exit("demo failed: the scan did not find exactly the altered copies")


def _matched_files(out: Path) -> set[str]:
    """Names of the scanned files with a standing match in the ``--out`` JSON lines."""
    if not out.exists():
        return set()
    names = set()
    with out.open() as lines:
        for line in lines:
            record = json.loads(line)
            if record["matches"]:
                names.add(Path(record["path"]).name)
    return names


if __name__ == "__main__":
    main()

"""The real ``jaga`` command (``jaga.cli.app``) on a fresh SQLite store under ``JAGA_HOME``."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from jaga.store import Database, open_database


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``JAGA_HOME`` for the test; no database URL or audit key from the environment."""
    folder = tmp_path / "home"
    monkeypatch.setenv("JAGA_HOME", str(folder))
    monkeypatch.delenv("JAGA_DATABASE_URL", raising=False)
    monkeypatch.delenv("JAGA_AUDIT_KEY", raising=False)
    return folder


@pytest.fixture
def store(home: Path) -> Iterator[Database]:
    """The database the commands use (created and migrated on first open)."""
    db = open_database(f"sqlite:///{home / 'jaga.db'}")
    try:
        yield db
    finally:
        db.close()


def _picture(seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A smooth synthetic picture of good PDQ quality, different for each seed."""
    rng = np.random.default_rng(seed)
    width, height = size
    image = Image.new("RGB", size, tuple(int(v) for v in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(image)
    for _ in range(18):
        x0, x1 = sorted(int(v) for v in rng.integers(0, width, 2))
        y0, y1 = sorted(int(v) for v in rng.integers(0, height * 2 // 3, 2))
        draw.ellipse((x0, y0, x1, y1), fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    return image.filter(ImageFilter.GaussianBlur(2))


Alter = Callable[[Image.Image], Image.Image]


class Pictures:
    """Writes synthetic photos (and altered copies) as JPEG files."""

    def image(self, seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
        return _picture(seed, size)

    def write(
        self, path: Path, seed: int, *, alter: Alter | None = None, quality: int = 90
    ) -> Path:
        image = _picture(seed)
        if alter is not None:
            image = alter(image)
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=quality)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(out.getvalue())
        return path


@pytest.fixture
def pictures() -> Pictures:
    return Pictures()

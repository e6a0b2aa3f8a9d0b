"""Generated photo-like images for the evaluation tests (nothing outside the repository)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

U8 = np.ndarray[Any, np.dtype[np.uint8]]


def make_photo(seed: int, height: int = 200, width: int = 300) -> U8:
    """Smooth colour noise under many sharp-edged ellipses: high PDQ quality, like a photo."""
    rng = np.random.default_rng(seed)
    field = np.zeros((height, width, 3), dtype=np.float32)
    for cells, weight in ((3, 1.0), (6, 0.7), (12, 0.5), (24, 0.35)):
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
    for _ in range(60):
        w, h = rng.uniform(0.04, 0.25) * width, rng.uniform(0.04, 0.25) * height
        x, y = rng.uniform(-0.1, 1.0) * width, rng.uniform(-0.1, 1.0) * height
        colour = tuple(int(v) for v in rng.integers(30, 230, 3))
        draw.ellipse((x, y, x + w, y + h), fill=colour)  # type: ignore[arg-type]
    return np.asarray(picture)


@pytest.fixture
def photo() -> Callable[..., U8]:
    return make_photo


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A folder of four generated photos (PNG and JPEG) and one file that is not an image."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    for i in range(4):
        image = Image.fromarray(make_photo(100 + i, 240, 360))
        if i % 2:
            image.save(folder / f"photo{i}.jpg", quality=95)
        else:
            image.save(folder / f"photo{i}.png")
    (folder / "notes.txt").write_text("not an image")
    return folder

"""Generated photo-like images for the variant tests (nothing outside the repository)."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

U8 = np.ndarray[Any, np.dtype[np.uint8]]


def texture(seed: int, height: int = 320, width: int = 480) -> U8:
    """Smooth colour noise at several scales under many sharp-edged ellipses: detail at every
    scale (a central crop keeps plenty) and PDQ quality 100, different for every seed."""
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


def jpeg(pixels: U8, quality: int = 85) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=quality)
    return out.getvalue()


@pytest.fixture
def make_texture() -> Callable[..., U8]:
    return texture


@pytest.fixture
def make_jpeg() -> Callable[..., bytes]:
    return jpeg

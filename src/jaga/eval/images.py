"""Originals for the benchmark: every readable image in a folder, decoded to RGB, in name order."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from jaga.errors import InvalidInput, NotFound

IMAGE_SUFFIXES: Final = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})


class NoImages(NotFound):
    """The data folder does not exist or holds no images."""


class UnreadableImage(InvalidInput):
    """A file in the data folder could not be decoded as an image."""


@dataclass(frozen=True)
class Original:
    name: str
    pixels: NDArray[np.uint8]
    path: Path


def load_originals(folder: str | Path, limit: int | None = None) -> list[Original]:
    """The first ``limit`` images (by file name) of ``folder``, EXIF orientation applied."""
    path = Path(folder)
    if not path.is_dir():
        raise NoImages(f"data folder {path} does not exist")
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if limit is not None:
        files = files[: max(0, limit)]
    if not files:
        raise NoImages(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {path}")
    originals = []
    for file in files:
        try:
            with Image.open(file) as image:
                pixels = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
        except (OSError, UnidentifiedImageError, ValueError) as error:
            raise UnreadableImage(f"cannot decode {file}: {error}") from None
        originals.append(Original(file.name, np.ascontiguousarray(pixels), file))
    return originals


def decode_seconds(originals: list[Original], rounds: int = 2) -> float:
    """Mean CPU seconds to decode one original from its file to RGB pixels: the work every
    upload costs before any hashing, whatever the method."""
    contents = [o.path.read_bytes() for o in originals]
    best = float("inf")
    for _ in range(rounds):
        begin = time.process_time()
        for data in contents:
            with Image.open(io.BytesIO(data)) as image:
                np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
        best = min(best, (time.process_time() - begin) / max(1, len(contents)))
    return best

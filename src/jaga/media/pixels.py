"""Pillow image -> RGB pixels, and EXIF orientation.

The PDQ reference hashes were computed on ``Image.open(p).convert("RGB")`` pixels (after
``ImageOps.exif_transpose`` when orientation is honoured), so conversion here *is* Pillow's
``convert("RGB")`` for every mode Pillow converts directly. With Pillow 13 that is every mode an
image file can open as: 1, L, LA, P, PA, RGB, RGBA, RGBX, RGBa, CMYK, YCbCr, I, I;16 (and its
byte orders), F, LAB and HSV. What Pillow does for the unusual ones:

* I, I;16*: values are clipped to 0..255 (not rescaled); a 16-bit 1000 becomes 255.
* F: truncated toward zero and clipped to 0..255. NaN, which C leaves undefined, is first
  replaced by 0 here, so the result is the same on every machine.
* LAB: a real CIELAB -> sRGB conversion; HSV: the usual HSV -> RGB.
* P, PA: the palette colours; transparency and alpha are dropped, never composited.

A mode Pillow cannot convert to RGB directly (``La``) goes through the first intermediate mode
that works (LA, RGBA, L, I), always the same one for a given mode.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from PIL import Image

from jaga.media.errors import UnsupportedMedia

# EXIF orientation value -> the transpose that makes the image upright (as ImageOps does).
_ORIENTATION: Final = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_EXIF_ORIENTATION_TAG: Final = 0x0112
_INTERMEDIATE_MODES: Final = ("LA", "RGBA", "L", "I")


def swaps_sides(orientation: int) -> bool:
    """Whether applying ``orientation`` exchanges width and height (a quarter turn)."""
    return orientation in (5, 6, 7, 8)


def exif_orientation(image: Image.Image) -> int:
    """The EXIF orientation (1..8) of ``image``, 1 when absent or not a valid value.

    Read exactly where ``ImageOps.exif_transpose`` reads it (``getexif()``, which also looks at
    XMP). Malformed EXIF raises from inside Pillow; callers decide what that means."""
    value = image.getexif().get(_EXIF_ORIENTATION_TAG, 1)
    return value if isinstance(value, int) and value in _ORIENTATION else 1


def orient(image: Image.Image, orientation: int) -> Image.Image:
    """``image`` turned upright for ``orientation``; the same object when nothing to do."""
    method = _ORIENTATION.get(orientation)
    return image if method is None else image.transpose(method)


def to_rgb(image: Image.Image) -> Image.Image:
    """``image`` in mode RGB, as Pillow's ``convert("RGB")`` makes it (see module docstring).

    An RGB image is returned as is: ``convert`` would copy it for nothing."""
    if image.mode == "RGB":
        return image
    if image.mode == "F":
        image = _without_nan(image)
    try:
        return image.convert("RGB")
    except ValueError:
        pass
    for mode in _INTERMEDIATE_MODES:
        try:
            return image.convert(mode).convert("RGB")
        except ValueError:
            continue
    raise UnsupportedMedia(f"pixel mode {image.mode} cannot be converted to RGB")


def rgb_array(image: Image.Image) -> np.ndarray:
    """The pixels of an RGB ``image`` as a C-contiguous (H, W, 3) uint8 array (one copy)."""
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise RuntimeError(f"expected RGB pixels, got {array.dtype} {array.shape}")  # a bug
    return np.ascontiguousarray(array)


def _without_nan(image: Image.Image) -> Image.Image:
    values = np.asarray(image)
    if not np.isnan(values).any():
        return image
    return Image.fromarray(np.nan_to_num(values, nan=0.0, posinf=np.inf, neginf=-np.inf))

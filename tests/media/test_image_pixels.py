"""RGB conversion of every Pillow mode, EXIF orientation, and the JPEG draft fast path.

The PDQ reference hashes were computed on ``Image.open(p).convert("RGB")`` pixels (after
``ImageOps.exif_transpose``), so equality with Pillow is checked pixel for pixel.
"""

from __future__ import annotations

import io
import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps

from jaga.media import decode_image
from jaga.media.pixels import to_rgb


def _gradient(width: int = 48, height: int = 32) -> Image.Image:
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // (width - 1), y * 255 // (height - 1), (x + y) % 256], axis=-1)
    return Image.fromarray(rgb.astype(np.uint8))


def _encode(image: Image.Image, fmt: str, **params: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def _wide_values(dtype: type, low: float, high: float) -> np.ndarray:
    """A 32x48 ramp from ``low`` to ``high``: values below 0 and above 255 included."""
    return np.linspace(low, high, 32 * 48).reshape(32, 48).astype(dtype)


def _mode_image(mode: str) -> Image.Image:
    base = _gradient()
    if mode == "I":
        return Image.fromarray(_wide_values(np.int32, -1000, 70000))
    if mode in ("I;16", "I;16B"):
        return Image.fromarray(_wide_values(np.uint16, 0, 65535)).convert(mode)
    if mode == "F":
        return Image.fromarray(_wide_values(np.float32, -20.5, 400.25))
    if mode == "PA":
        return base.convert("P").convert("PA")
    return base.convert(mode)


# (mode, format it is stored in): each file opens in that mode (checked below).
_FILE_MODES = [
    ("1", "PNG"),
    ("1", "BMP"),
    ("L", "PNG"),
    ("LA", "PNG"),
    ("P", "PNG"),
    ("P", "GIF"),
    ("PA", "TIFF"),
    ("RGB", "PNG"),
    ("RGBA", "PNG"),
    ("CMYK", "JPEG"),
    ("CMYK", "TIFF"),
    ("YCbCr", "TIFF"),
    ("I", "TIFF"),
    ("I;16", "PNG"),
    ("I;16", "TIFF"),
    ("I;16B", "TIFF"),
    ("F", "TIFF"),
    ("LAB", "TIFF"),
]


@pytest.mark.parametrize(("mode", "fmt"), _FILE_MODES)
def test_every_file_mode_converts_like_pillow(mode: str, fmt: str) -> None:
    data = _encode(_mode_image(mode), fmt)
    with Image.open(io.BytesIO(data)) as image:
        assert image.mode == mode  # the test really covers this mode
        expected = np.asarray(image.convert("RGB"))
    decoded = decode_image(data)
    assert decoded.mode == mode
    np.testing.assert_array_equal(decoded.frames[0].rgb, expected)


def test_palette_with_transparency_keeps_palette_colours_and_warns_nobody() -> None:
    image = _gradient().quantize(16)
    data = _encode(image, "PNG", transparency=bytes([0] * 8 + [255] * 8))
    with Image.open(io.BytesIO(data)) as reference, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow advises converting to RGBA instead
        assert reference.mode == "P"
        assert "transparency" in reference.info
        expected = np.asarray(reference.convert("RGB"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rgb = decode_image(data).frames[0].rgb
    assert caught == []
    np.testing.assert_array_equal(rgb, expected)


@pytest.mark.parametrize("mode", ["HSV", "LAB", "RGBa", "RGBX", "I;16L", "I;16N", "CMYK"])
def test_in_memory_modes_convert_like_pillow(mode: str) -> None:
    image = _gradient().convert(mode) if mode != "RGBa" else _gradient().convert("RGBA")
    if mode == "RGBa":
        image = image.convert("RGBa")
    if mode.startswith("I;16"):
        image = _mode_image("I;16").convert(mode)
    converted = to_rgb(image)
    assert converted.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(converted), np.asarray(image.convert("RGB")))


def test_a_mode_pillow_cannot_convert_directly_goes_through_la() -> None:
    image = _gradient().convert("LA").convert("La")
    with pytest.raises(ValueError, match="not supported"):
        image.convert("RGB")
    expected = np.asarray(image.convert("LA").convert("RGB"))
    np.testing.assert_array_equal(np.asarray(to_rgb(image)), expected)


def test_float_nan_becomes_black_on_every_machine() -> None:
    values = _wide_values(np.float32, 0, 300)
    values[0, :5] = np.nan
    data = _encode(Image.fromarray(values), "TIFF")
    rgb = decode_image(data).frames[0].rgb
    assert (rgb[0, :5] == 0).all()
    finite = Image.fromarray(np.nan_to_num(values, nan=0.0))
    np.testing.assert_array_equal(rgb, np.asarray(finite.convert("RGB")))


def _exif_jpeg(orientation: int, width: int = 60, height: int = 40, **params: Any) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _encode(_gradient(width, height), "JPEG", quality=95, exif=exif.tobytes(), **params)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_like_exif_transpose(orientation: int) -> None:
    data = _exif_jpeg(orientation)
    with Image.open(io.BytesIO(data)) as image:
        assert image.getexif()[0x0112] == orientation
        upright = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
        stored = np.asarray(image.convert("RGB"))
    decoded = decode_image(data)
    np.testing.assert_array_equal(decoded.frames[0].rgb, upright)
    assert decoded.orientation == orientation
    swapped = orientation in (5, 6, 7, 8)
    assert (decoded.width, decoded.height) == ((40, 60) if swapped else (60, 40))
    assert upright.shape[:2] == (decoded.height, decoded.width)
    raw = decode_image(data, apply_exif=False)
    np.testing.assert_array_equal(raw.frames[0].rgb, stored)
    assert (raw.width, raw.height, raw.orientation) == (60, 40, 1)


def test_exif_orientation_in_a_png_is_applied_too() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    data = _encode(_gradient(), "PNG", exif=exif.tobytes())
    with Image.open(io.BytesIO(data)) as image:
        upright = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    decoded = decode_image(data)
    assert (decoded.width, decoded.height) == (32, 48)
    np.testing.assert_array_equal(decoded.frames[0].rgb, upright)


@pytest.fixture(scope="module")
def photo() -> bytes:
    """A 1000x700 JPEG with smooth content (so a reduced decode resembles a resize)."""
    return _encode(_gradient(1000, 700), "JPEG", quality=90)


@pytest.mark.parametrize(
    ("min_side", "scale"),
    [(1, 8), (80, 8), (88, 8), (89, 4), (175, 4), (176, 2), (350, 2), (351, 1), (5000, 1)],
)
def test_draft_picks_the_largest_reduction_keeping_the_short_side(
    photo: bytes, min_side: int, scale: int
) -> None:
    decoded = decode_image(photo, min_side=min_side)
    assert decoded.scale == scale
    assert (decoded.width, decoded.height) == (1000, 700)  # full-resolution size
    height, width, _ = decoded.frames[0].rgb.shape
    assert (width, height) == (-(-1000 // scale), -(-700 // scale))
    assert min(width, height) >= min(min_side, 700)


def test_draft_pixels_are_the_picture_at_a_smaller_size(photo: bytes) -> None:
    reduced = decode_image(photo, min_side=100).frames[0].rgb
    full = Image.fromarray(decode_image(photo).frames[0].rgb)
    resized = np.asarray(full.resize((reduced.shape[1], reduced.shape[0]), Image.Resampling.BOX))
    assert np.abs(reduced.astype(int) - resized.astype(int)).mean() < 4


def test_draft_then_orientation_swaps_sides() -> None:
    data = _exif_jpeg(6, 800, 600)
    decoded = decode_image(data, min_side=150)
    assert (decoded.scale, decoded.width, decoded.height) == (4, 600, 800)
    assert decoded.frames[0].rgb.shape == (200, 150, 3)


def test_no_draft_for_other_formats() -> None:
    data = _encode(_gradient(800, 600), "PNG")
    decoded = decode_image(data, min_side=64)
    assert decoded.scale == 1
    assert decoded.frames[0].rgb.shape == (600, 800, 3)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    width=st.integers(2, 300),
    height=st.integers(2, 300),
    min_side=st.integers(1, 320),
)
def test_draft_scale_is_the_largest_that_keeps_min_side(
    width: int, height: int, min_side: int
) -> None:
    data = _encode(_gradient(width, height), "JPEG", quality=80)
    decoded = decode_image(data, min_side=min_side)
    short = min(width, height)
    valid = [s for s in (1, 2, 4, 8) if s <= short and -(-short // s) >= min_side]
    assert decoded.scale == max(valid, default=1)
    rgb = decoded.frames[0].rgb
    assert rgb.shape == (-(-height // decoded.scale), -(-width // decoded.scale), 3)

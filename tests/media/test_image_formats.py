"""decode_image on every supported format: stills, animations, pages, HEIF; pixels as Pillow's."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pillow_heif
import pytest
from PIL import Image, ImageDraw, ImageSequence

from jaga.media import DecodedImage, decode_image


def _picture(width: int, height: int, seed: int) -> Image.Image:
    """A deterministic picture with shapes and edges (not noise: it must survive JPEG)."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (width, height), tuple(int(v) for v in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x0, x1 = sorted(int(v) for v in rng.integers(0, width, 2))
        y0, y1 = sorted(int(v) for v in rng.integers(0, height, 2))
        draw.rectangle((x0, y0, x1, y1), fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    return image


def _encode(image: Image.Image, fmt: str, **params: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def _pillow_frames(data: bytes) -> list[np.ndarray]:
    """The reference: every frame as Pillow's convert("RGB") makes it."""
    with Image.open(io.BytesIO(data)) as image:
        return [np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(image)]


def _assert_frames_equal(decoded: DecodedImage, data: bytes) -> None:
    expected = _pillow_frames(data)
    assert len(decoded.frames) == len(expected)
    for index, (frame, reference) in enumerate(zip(decoded.frames, expected, strict=True)):
        assert frame.index == index
        assert frame.rgb.dtype == np.uint8
        assert frame.rgb.flags.c_contiguous
        assert frame.rgb.shape == reference.shape
        np.testing.assert_array_equal(frame.rgb, reference)


@pytest.mark.parametrize(
    ("fmt", "params"),
    [
        ("JPEG", {"quality": 90}),
        ("JPEG", {"quality": 90, "progressive": True}),
        ("PNG", {}),
        ("GIF", {}),
        ("WEBP", {"quality": 90}),
        ("WEBP", {"lossless": True}),
        ("BMP", {}),
        ("TIFF", {}),
        ("TIFF", {"compression": "tiff_lzw"}),
        ("HEIF", {"quality": 90}),
        ("AVIF", {"quality": 90}),
    ],
)
def test_still_images_decode_to_pillows_rgb(fmt: str, params: dict[str, Any]) -> None:
    data = _encode(_picture(70, 50, 1), fmt, **params)
    decoded = decode_image(data)
    assert decoded.format == fmt
    assert (decoded.width, decoded.height, decoded.scale) == (70, 50, 1)
    assert decoded.frame_count == 1
    assert not decoded.animated
    assert decoded.frames[0].duration_ms is None
    assert decoded.frames[0].rgb.shape == (50, 70, 3)
    _assert_frames_equal(decoded, data)


def test_the_heif_encoder_is_in_the_wheel() -> None:
    # HEIF tests encode their own files: this fails loudly if the wheel loses its encoder.
    assert pillow_heif.libheif_info()["HEIF"]


def test_multi_image_heif_gives_every_image() -> None:
    images = [_picture(64, 48, seed) for seed in (2, 3)]
    data = _encode(images[0], "HEIF", save_all=True, append_images=images[1:], quality=90)
    decoded = decode_image(data)
    assert (decoded.format, decoded.frame_count, len(decoded.frames)) == ("HEIF", 2, 2)
    _assert_frames_equal(decoded, data)


def _gif(durations: list[int]) -> bytes:
    frames = [_picture(40, 30, seed).quantize(32) for seed in range(len(durations))]
    return _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=durations)


def test_animated_gif_gives_every_frame_with_durations() -> None:
    data = _gif([100, 200, 300])
    decoded = decode_image(data)
    assert decoded.animated
    assert (decoded.format, decoded.mode, decoded.frame_count) == ("GIF", "P", 3)
    assert [f.duration_ms for f in decoded.frames] == [100, 200, 300]
    _assert_frames_equal(decoded, data)


def test_animated_webp_gives_every_frame() -> None:
    frames = [_picture(40, 30, seed) for seed in (4, 5, 6)]
    data = _encode(
        frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=[50, 60, 70]
    )
    decoded = decode_image(data)
    assert (decoded.format, decoded.frame_count) == ("WEBP", 3)
    assert [f.duration_ms for f in decoded.frames] == [50, 60, 70]
    _assert_frames_equal(decoded, data)


def test_animated_png_gives_every_frame() -> None:
    frames = [_picture(40, 30, seed) for seed in (7, 8, 9)]
    data = _encode(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=40)
    decoded = decode_image(data)
    assert (decoded.format, decoded.frame_count) == ("PNG", 3)
    assert [f.duration_ms for f in decoded.frames] == [40, 40, 40]
    _assert_frames_equal(decoded, data)


def test_multi_page_tiff_pages_are_frames_of_their_own_size_and_mode() -> None:
    pages = [_picture(40, 30, 10), _picture(24, 36, 11).convert("L"), _picture(16, 16, 12)]
    data = _encode(pages[0], "TIFF", save_all=True, append_images=pages[1:])
    decoded = decode_image(data)
    assert (decoded.format, decoded.frame_count, decoded.width, decoded.height) == (
        "TIFF",
        3,
        40,
        30,
    )
    assert [f.rgb.shape for f in decoded.frames] == [(30, 40, 3), (36, 24, 3), (16, 16, 3)]
    _assert_frames_equal(decoded, data)


def test_first_frame_only_still_counts_the_frames() -> None:
    data = _gif([100, 100, 100, 100])
    decoded = decode_image(data, all_frames=False)
    assert len(decoded.frames) == 1
    assert decoded.frame_count == 4
    assert decoded.animated
    np.testing.assert_array_equal(decoded.frames[0].rgb, _pillow_frames(data)[0])


def test_frames_are_independent_arrays() -> None:
    decoded = decode_image(_gif([10, 10]))
    first, second = (f.rgb for f in decoded.frames)
    assert not np.shares_memory(first, second)
    assert not np.array_equal(first, second)


def test_multi_picture_jpeg_is_its_primary_picture() -> None:
    pictures = [_picture(400, 300, 20), _picture(400, 300, 21)]
    data = _encode(pictures[0], "MPO", save_all=True, append_images=pictures[1:], quality=90)
    with Image.open(io.BytesIO(data)) as image:
        assert (image.format, getattr(image, "n_frames", 1)) == ("MPO", 2)
        expected = np.asarray(image.convert("RGB"))
    decoded = decode_image(data)
    assert (decoded.format, decoded.frame_count, len(decoded.frames)) == ("MPO", 1, 1)
    np.testing.assert_array_equal(decoded.frames[0].rgb, expected)
    reduced = decode_image(data, min_side=100)
    assert reduced.scale == 2
    assert reduced.frames[0].rgb.shape == (150, 200, 3)

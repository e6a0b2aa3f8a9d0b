"""Bad images: each named case gets its typed error, limits bite before decoding."""

from __future__ import annotations

import io
import random
import struct
import warnings
import zlib
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from jaga.errors import InvalidInput
from jaga.media import (
    CorruptMedia,
    MediaError,
    MediaLimits,
    MediaTooLarge,
    UnsupportedMedia,
    decode_image,
    read_source,
)
from jaga.media.gifscan import count_gif_frames


def _encode(image: Image.Image, fmt: str, **params: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def _noise(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose IHDR (valid CRC) declares ``width`` x ``height`` RGB; almost no pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _png_chunk(b"IEND", b"")
    )


def _tiny_gif(frames: int) -> bytes:
    """A 1x1 GIF of ``frames`` frames, written directly (Pillow would merge equal frames)."""
    header = b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    loop = b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    delay = b"\x21\xf9\x04\x00\x0a\x00\x00\x00"  # 100 ms
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    return header + loop + (delay + image) * frames + b"\x3b"


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any pixel decoding by Pillow fail the test."""

    def refuse(self: ImageFile.ImageFile) -> None:
        raise AssertionError(f"{self.format} pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


def test_zero_bytes_are_corrupt() -> None:
    with pytest.raises(CorruptMedia, match=r"^empty file \(0 bytes\)$"):
        decode_image(b"")


def test_truncated_jpeg_is_corrupt_at_load() -> None:
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    data = _encode(_noise(64, 48), "JPEG", quality=90)
    with pytest.raises(CorruptMedia, match=r"^truncated JPEG: image file is truncated") as caught:
        decode_image(data[: len(data) - 40])
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("keep", [3, 20, 200])
def test_jpeg_cut_anywhere_is_corrupt(keep: int) -> None:
    data = _encode(_noise(64, 48), "JPEG", quality=90)
    with pytest.raises(CorruptMedia, match="JPEG"):
        decode_image(data[:keep])


def test_truncated_png_is_corrupt() -> None:
    data = _encode(_noise(64, 48), "PNG")
    with pytest.raises(CorruptMedia, match=r"^truncated PNG"):
        decode_image(data[: len(data) // 2])


def test_text_named_jpg_is_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "holiday.jpg"
    path.write_text("this is not a picture, only text in a file named .jpg\n")
    with pytest.raises(UnsupportedMedia, match="not a supported image or video format"):
        decode_image(read_source(path))


def test_a_video_is_not_an_image() -> None:
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=5)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    with pytest.raises(UnsupportedMedia, match=r"expected an image, got a video \(mp4\)"):
        decode_image(out.getvalue())


def test_png_declaring_100000x100000_is_refused_instantly(no_decoding: None) -> None:
    data = _png_header(100_000, 100_000)
    assert len(data) < 100
    with pytest.raises(MediaTooLarge, match="PNG image"):
        decode_image(data)


def test_our_header_check_refuses_it_even_without_pillows_bomb_check(
    monkeypatch: pytest.MonkeyPatch, no_decoding: None
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    with pytest.raises(MediaTooLarge, match="100000x100000, over the limit of 65535"):
        decode_image(_png_header(100_000, 100_000))
    with pytest.raises(MediaTooLarge, match=r"20000x20000 = 400000000 pixels, over the limit"):
        decode_image(_png_header(20_000, 20_000))


def test_pixel_and_dimension_limits_are_configurable(no_decoding: None) -> None:
    data = _png_header(100, 100)
    with pytest.raises(MediaTooLarge, match="10000 pixels, over the limit of 9999"):
        decode_image(data, limits=MediaLimits(max_pixels=9_999))
    with pytest.raises(MediaTooLarge, match="over the limit of 99 pixels a side"):
        decode_image(data, limits=MediaLimits(max_dimension=99))


def test_pillows_bomb_error_becomes_media_too_large(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000)
    with pytest.raises(MediaTooLarge, match="decompression bomb"):
        decode_image(_encode(_noise(50, 50), "PNG"))  # 2,500 > 2 * 1,000


def test_pillows_bomb_warning_does_not_leak(monkeypatch: pytest.MonkeyPatch) -> None:
    # Between MAX_IMAGE_PIXELS and twice that Pillow only warns; our own limit decides.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000)
    data = _encode(_noise(40, 40), "PNG")  # 1,600 pixels
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        decoded = decode_image(data)
    assert caught == []
    assert decoded.frames[0].rgb.shape == (40, 40, 3)
    with pytest.raises(MediaTooLarge):
        decode_image(data, limits=MediaLimits(max_pixels=1_000))


def test_byte_limit() -> None:
    data = _encode(_noise(16, 16), "PNG")
    assert decode_image(data, limits=MediaLimits(max_bytes=len(data))).frames
    with pytest.raises(MediaTooLarge, match=f"{len(data)} bytes, over the limit of 100 bytes"):
        decode_image(data, limits=MediaLimits(max_bytes=100))


def test_gif_with_10000_frames_is_refused_before_decoding(no_decoding: None) -> None:
    data = _tiny_gif(10_000)
    assert count_gif_frames(data, 20_000) == 10_000
    with pytest.raises(MediaTooLarge, match="GIF has more than 1000 frames"):
        decode_image(data)
    with pytest.raises(MediaTooLarge, match="GIF has more than 1000 frames"):
        decode_image(data, all_frames=False)


def test_tiny_gif_generator_makes_a_valid_animation() -> None:
    decoded = decode_image(_tiny_gif(5))
    assert decoded.frame_count == 5
    assert [f.duration_ms for f in decoded.frames] == [100] * 5
    assert all(f.rgb.shape == (1, 1, 3) for f in decoded.frames)


def test_frame_count_stops_at_the_cap() -> None:
    assert count_gif_frames(_tiny_gif(10_000), 7) == 7
    assert count_gif_frames(b"GIF89a", 7) == 0


def test_frame_limit_while_iterating(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _tiny_gif(6)
    assert decode_image(data, limits=MediaLimits(max_frames=6)).frame_count == 6
    with pytest.raises(MediaTooLarge, match="more than 5 frames"):
        decode_image(data, limits=MediaLimits(max_frames=5))
    # Even when the up-front count is fooled, iteration enforces the limit.
    monkeypatch.setattr("jaga.media.image.count_gif_frames", lambda data, stop_after: 1)
    with pytest.raises(MediaTooLarge, match="more than 5 frames"):
        decode_image(data, limits=MediaLimits(max_frames=5))


def test_total_pixel_limit_over_all_frames() -> None:
    frames = [_noise(20, 20, seed) for seed in range(4)]
    data = _encode(frames[0], "PNG", save_all=True, append_images=frames[1:])
    assert decode_image(data, limits=MediaLimits(max_total_pixels=1_600)).frame_count == 4
    with pytest.raises(MediaTooLarge, match="over the limit of 1599 pixels in all"):
        decode_image(data, limits=MediaLimits(max_total_pixels=1_599))


def test_unreadable_exif_leaves_pixels_as_stored() -> None:
    data = _encode(_noise(30, 20), "JPEG", quality=95, exif=b"Exif\x00\x00MM\x00*\xff\xff")
    decoded = decode_image(data)
    assert (decoded.width, decoded.height, decoded.orientation) == (30, 20, 1)


def test_min_side_must_be_positive() -> None:
    with pytest.raises(InvalidInput, match="min_side"):
        decode_image(_encode(_noise(8, 8), "JPEG"), min_side=0)


def _seeds() -> list[bytes]:
    pictures = [_noise(24, 16, seed) for seed in range(3)]
    return [
        _encode(pictures[0], "JPEG", quality=80),
        _encode(pictures[0], "JPEG", progressive=True),
        _encode(pictures[0], "PNG"),
        _encode(pictures[0].quantize(8), "GIF", save_all=True, append_images=[pictures[1]]),
        _encode(pictures[0], "WEBP", save_all=True, append_images=pictures[1:]),
        _encode(pictures[0], "BMP"),
        _encode(pictures[0], "TIFF", save_all=True, append_images=[pictures[1].convert("L")]),
        _encode(pictures[0], "TIFF", compression="tiff_lzw"),
        _encode(pictures[0], "HEIF"),
        _encode(pictures[0], "PNG", save_all=True, append_images=pictures[1:]),
    ]


_SEEDS = _seeds()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from(range(len(_SEEDS))),
    rng_seed=st.integers(0, 2**32 - 1),
    how=st.sampled_from(["flip", "truncate", "insert", "delete"]),
)
def test_damaged_images_decode_or_raise_a_media_error(seed: int, rng_seed: int, how: str) -> None:
    data = bytearray(_SEEDS[seed])
    rng = random.Random(rng_seed)
    position = rng.randrange(len(data))
    if how == "flip":
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif how == "truncate":
        del data[position:]
    elif how == "insert":
        data[position:position] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    else:
        del data[position : position + rng.randint(1, 32)]
    message = ""
    try:
        decoded = decode_image(bytes(data), min_side=rng.choice([None, 8]))
    except MediaError as error:
        message = str(error)
    else:
        for frame in decoded.frames:
            assert frame.rgb.dtype == np.uint8
            assert frame.rgb.shape[2:] == (3,)
    assert "\n" not in message


def test_a_gif_frame_that_grows_the_canvas_is_checked_before_decoding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # leave it to our per-frame check
    small = b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    huge = b"\x2c" + struct.pack("<HHHHB", 0, 0, 20_000, 20_000, 0) + b"\x02\x02\x44\x01\x00"
    data = _tiny_gif(1)[:-1] + small + huge + b"\x3b"
    with pytest.raises(MediaTooLarge, match=r"GIF frame 2 is 20000x20000 = 400000000 pixels"):
        decode_image(data)

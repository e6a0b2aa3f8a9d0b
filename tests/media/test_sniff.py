"""Magic-byte sniffing: what is an image, what is a video, what we refuse."""

from __future__ import annotations

import io
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from jaga.media import CorruptMedia, MediaError, UnsupportedMedia, sniff_format, sniff_kind
from jaga.media.sniff import sniff


def _encoded(fmt: str, mode: str = "RGB", **params: object) -> bytes:
    out = io.BytesIO()
    Image.new(mode, (8, 6), "red" if mode == "RGB" else 1).save(out, format=fmt, **params)
    return out.getvalue()


def _ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\x00\x00\x00\x00" + b"".join(compatible)
    return struct.pack(">I", 8 + len(body)) + b"ftyp" + body + b"\x00" * 32


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("JPEG", "JPEG"),
        ("PNG", "PNG"),
        ("GIF", "GIF"),
        ("WEBP", "WEBP"),
        ("BMP", "BMP"),
        ("TIFF", "TIFF"),
        ("HEIF", "HEIF"),
        ("AVIF", "AVIF"),
    ],
)
def test_images_are_recognised_from_their_bytes(fmt: str, expected: str) -> None:
    data = _encoded(fmt)
    assert sniff_kind(data) == "image"
    assert sniff_format(data) == expected


@pytest.mark.parametrize(
    ("head", "fmt"),
    [
        (_ftyp(b"isom", b"isom", b"mp41"), "mp4"),
        (_ftyp(b"qt  ", b"qt  "), "mov"),
        (_ftyp(b"3gp4", b"3gp4"), "3gp"),
        (b"\x00\x00\x00\x08wide" + b"\x00" * 40, "mov"),
        (b"\x1a\x45\xdf\xa3\x9fB\x86\x81\x01B\x82\x84webm" + b"\x00" * 20, "webm"),
        (b"\x1a\x45\xdf\xa3\xa3B\x86\x81\x01B\x82\x88matroska" + b"\x00" * 20, "mkv"),
        (b"RIFF\x00\x10\x00\x00AVI LIST" + b"\x00" * 20, "avi"),
        (b"FLV\x01\x05\x00\x00\x00\x09" + b"\x00" * 20, "flv"),
        (bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c") + b"\x00" * 20, "asf"),
        (b"\x00\x00\x01\xba" + b"\x00" * 20, "mpeg"),
        (b"OggS\x00\x02" + b"\x00" * 20, "ogg"),
        ((b"\x47" + b"\xff" * 187) * 3 + b"\x47", "mpegts"),
    ],
)
def test_videos_are_recognised_from_their_bytes(head: bytes, fmt: str) -> None:
    assert sniff_kind(head) == "video"
    assert sniff_format(head) == fmt


def test_heif_brands_are_images_and_mp4_brands_videos() -> None:
    assert sniff(_ftyp(b"heic", b"mif1", b"heic")).format == "HEIF"
    assert sniff(_ftyp(b"mif1", b"heic")).format == "HEIF"
    assert sniff(_ftyp(b"avif", b"mif1", b"avif")).format == "AVIF"
    assert sniff(_ftyp(b"mp42", b"isom", b"mp42")).kind == "video"
    # A video major brand wins over a stray image brand in the compatible list.
    assert sniff(_ftyp(b"isom", b"mif1")).kind == "video"


def test_empty_bytes_are_corrupt() -> None:
    with pytest.raises(CorruptMedia, match="empty"):
        sniff_kind(b"")


def test_text_is_unsupported() -> None:
    with pytest.raises(UnsupportedMedia, match="not a supported image or video format"):
        sniff_kind(b"<html><body>a page saved as photo.jpg</body></html>")


def test_a_bitmap_needs_a_real_info_header() -> None:
    with pytest.raises(UnsupportedMedia):
        sniff_kind(b"BMW 3 series brochure, plain text, long enough to look at")


def test_a_cut_magic_number_is_a_truncated_file() -> None:
    with pytest.raises(CorruptMedia, match="truncated PNG"):
        sniff_kind(b"\x89PNG\r")
    with pytest.raises(CorruptMedia, match="truncated JPEG"):
        sniff_kind(b"\xff\xd8")


@given(st.binary(max_size=600))
def test_any_bytes_give_a_kind_or_a_media_error(data: bytes) -> None:
    try:
        kind = sniff_kind(data)
    except MediaError:
        return
    assert kind in ("image", "video")

"""read_source: bytes or a local path, size checked before reading, typed errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jaga.errors import InvalidInput, NotFound
from jaga.media import MediaError, MediaLimits, MediaNotFound, MediaTooLarge, read_source


def test_bytes_pass_through() -> None:
    assert read_source(b"\xff\xd8\xffabc") == b"\xff\xd8\xffabc"
    assert read_source(bytearray(b"xyz")) == b"xyz"


def test_a_path_is_read_as_str_or_pathlike(tmp_path: Path) -> None:
    path = tmp_path / "a.bin"
    path.write_bytes(b"0123456789")
    assert read_source(path) == b"0123456789"
    assert read_source(str(path)) == b"0123456789"


def test_a_missing_file_is_a_typed_not_found(tmp_path: Path) -> None:
    with pytest.raises(MediaNotFound, match="no such file") as caught:
        read_source(tmp_path / "nope.jpg")
    assert isinstance(caught.value, NotFound)


def test_a_directory_is_a_media_error(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match=r"not a regular file|Is a directory"):
        read_source(tmp_path)


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(MediaError, match="not a regular file"):
        read_source(fifo)  # opening a FIFO with no writer would block forever


def test_byte_limit_on_bytes_and_on_files(tmp_path: Path) -> None:
    limits = MediaLimits(max_bytes=10)
    assert read_source(b"x" * 10, limits) == b"x" * 10
    with pytest.raises(MediaTooLarge, match="11 bytes, over the limit of 10"):
        read_source(b"x" * 11, limits)
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * 11)
    with pytest.raises(MediaTooLarge, match="over the limit of 10 bytes"):
        read_source(path, limits)


def test_a_huge_file_is_refused_from_its_size_alone(tmp_path: Path) -> None:
    path = tmp_path / "sparse.bin"
    with path.open("wb") as handle:
        handle.truncate(64 * 2**30)  # 64 GiB, sparse: reading it would take minutes
    with pytest.raises(MediaTooLarge, match=str(64 * 2**30)):
        read_source(path)


@pytest.mark.parametrize(
    "bad",
    [
        {"max_bytes": 0},
        {"max_pixels": -1},
        {"max_frames": 1.5},
        {"max_dimension": True},
        {"max_video_seconds": 0},
        {"max_video_seconds": float("nan")},
        {"max_video_seconds": float("inf")},
    ],
)
def test_limits_must_be_positive_numbers(bad: dict[str, object]) -> None:
    with pytest.raises(InvalidInput, match="MediaLimits"):
        MediaLimits(**bad)  # type: ignore[arg-type]

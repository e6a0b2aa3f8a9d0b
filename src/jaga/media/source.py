"""Getting media bytes from a path or a buffer, within the byte limit.

The size is checked with ``stat`` before anything is read, so a 50 GB file (or ``/dev/zero``)
costs nothing to refuse. Paths are only ever opened as local files: a string is never handed
to a decoder that might read it as a URL or an FFmpeg protocol (``http:``, ``concat:``...).
"""

from __future__ import annotations

import io
import os
import stat
from typing import BinaryIO

from jaga.media.errors import MediaError, MediaNotFound
from jaga.media.limits import DEFAULT_LIMITS, MediaLimits, check_byte_size

Source = bytes | bytearray | memoryview | str | os.PathLike[str]


def read_source(source: Source, limits: MediaLimits = DEFAULT_LIMITS) -> bytes:
    """The bytes of ``source`` (bytes as they are, or a local file path), within
    ``limits.max_bytes``. MediaNotFound for a missing file, MediaTooLarge over the limit,
    MediaError for anything else unreadable (a directory, no permission)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        check_byte_size(len(data), limits)
        return data
    with open_file(source, limits) as handle:
        # The file may grow between stat and read: read at most one byte over the limit.
        data = handle.read(limits.max_bytes + 1)
    check_byte_size(len(data), limits, f"file {os.fspath(source)!r}")
    return data


def open_source(source: Source, limits: MediaLimits = DEFAULT_LIMITS) -> BinaryIO:
    """A seekable binary stream over ``source`` after the size check: the bytes themselves, or
    the opened file (not read into memory: videos can be large). The caller closes it."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        check_byte_size(len(source), limits)
        return io.BytesIO(source)
    return open_file(source, limits)


def open_file(path: str | os.PathLike[str], limits: MediaLimits) -> BinaryIO:
    """Open a regular local file for reading after checking its size against the limit."""
    name = os.fspath(path)
    if not isinstance(name, str):
        raise TypeError(f"media path must be str or os.PathLike[str], got {type(name).__name__}")
    try:
        # stat before open: opening a FIFO or a device could block or never end.
        _check_regular(name, os.stat(name), limits)
        handle = open(name, "rb")  # noqa: SIM115 -- returned to the caller, who closes it
    except FileNotFoundError:
        raise MediaNotFound(f"no such file: {name!r}") from None
    except OSError as error:
        raise MediaError(f"cannot read {name!r}: {error.strerror or error}") from None
    try:
        # Again on the opened file: the path may have been swapped in between.
        _check_regular(name, os.fstat(handle.fileno()), limits)
    except BaseException:
        handle.close()
        raise
    return handle


def _check_regular(name: str, info: os.stat_result, limits: MediaLimits) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise MediaError(f"cannot read {name!r}: not a regular file")
    check_byte_size(info.st_size, limits, f"file {name!r}")

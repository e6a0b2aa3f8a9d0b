"""Checks on what callers pass in, each failing with one IndexInputError that says what to fix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from jaga.index.errors import IndexInputError

_INT64_MAX = np.iinfo(np.int64).max


def as_ids(ids: NDArray[Any] | Sequence[int], what: str = "ids") -> NDArray[np.int64]:
    """A 1-D int64 array of entry ids (any integer dtype whose values fit in int64)."""
    if isinstance(ids, np.ndarray):
        arr = ids
    else:
        try:
            arr = np.asarray(list(ids))
        except (TypeError, ValueError, OverflowError) as e:
            raise IndexInputError(f"{what} must be a sequence of integers: {e}") from None
    if arr.ndim != 1:
        raise IndexInputError(f"{what} must be one-dimensional, got shape {arr.shape}")
    if arr.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype.kind not in "iu":
        raise IndexInputError(f"{what} must be integers, got dtype {arr.dtype}")
    if arr.dtype.kind == "u" and arr.dtype.itemsize >= 8 and int(arr.max()) > _INT64_MAX:
        raise IndexInputError(f"{what} must fit in int64, got {int(arr.max())}")
    return np.ascontiguousarray(arr, dtype=np.int64)


def as_rows(values: object, row_bytes: int, what: str = "hashes") -> NDArray[np.uint8]:
    """A C-contiguous (n, row_bytes) uint8 array; nothing is converted silently but layout."""
    if not isinstance(values, np.ndarray):
        raise IndexInputError(
            f"{what} must be a numpy uint8 array of shape (n, {row_bytes}), "
            f"got {type(values).__name__}"
        )
    if values.dtype != np.uint8:
        raise IndexInputError(f"{what} must have dtype uint8, got {values.dtype}")
    if values.ndim != 2 or values.shape[1] != row_bytes:
        raise IndexInputError(
            f"{what} must have shape (n, {row_bytes}) ({row_bytes} bytes per hash), "
            f"got {values.shape}"
        )
    return np.ascontiguousarray(values)


def as_one(value: object, row_bytes: int, what: str = "hash") -> NDArray[np.uint8]:
    """One hash given as bytes (or a 1-D uint8 array), as a (1, row_bytes) array."""
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        if len(raw) != row_bytes:
            raise IndexInputError(f"{what} must be {row_bytes} bytes, got {len(raw)}")
        return np.frombuffer(raw, dtype=np.uint8).reshape(1, row_bytes)
    if isinstance(value, np.ndarray) and value.ndim == 1:
        return as_rows(value.reshape(1, -1), row_bytes, what)
    raise IndexInputError(f"{what} must be {row_bytes} bytes, got {type(value).__name__}")


def as_radius(radius: object, bits: int) -> int:
    """A Hamming radius in 0..bits (bools and floats are refused, not rounded)."""
    if isinstance(radius, bool) or not isinstance(radius, int | np.integer):
        raise IndexInputError(f"radius must be an integer, got {radius!r}")
    r = int(radius)
    if not 0 <= r <= bits:
        raise IndexInputError(f"radius must be between 0 and {bits}, got {r}")
    return int(r)


def as_threads(threads: object) -> int:
    """Worker threads for a batch: None means all cores (0 to the native core)."""
    if threads is None:
        return 0
    if isinstance(threads, bool) or not isinstance(threads, int | np.integer) or threads < 1:
        raise IndexInputError(f"threads must be a positive integer or None, got {threads!r}")
    return int(threads)


def check_same_length(ids: NDArray[np.int64], rows: NDArray[np.uint8], what: str) -> None:
    if ids.shape[0] != rows.shape[0]:
        raise IndexInputError(f"got {ids.shape[0]} ids but {rows.shape[0]} {what}")

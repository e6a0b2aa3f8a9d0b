"""The native core directly: chunk tables are exact counting sorts, and bad buffers are refused."""

from __future__ import annotations

import numpy as np
import pytest

from jaga.index import _hamming


def _chunk_values(rows: np.ndarray, off: int, width: int) -> np.ndarray:
    bits = np.unpackbits(rows, axis=1, bitorder="little")[:, off : off + width]
    return (bits.astype(np.int64) << np.arange(width)).sum(axis=1)


@pytest.mark.parametrize(
    ("n", "widths"),
    [(1000, (7, 13, 24)), (70_000, (16, 20, 9, 24)), (66_000, (13, 14, 22, 17))],
)
def test_tables_are_stable_counting_sorts(n: int, widths: tuple[int, ...]) -> None:
    """Both the direct and the partitioned build give buckets in order, rows ascending in each."""
    rows = np.random.default_rng(n).integers(0, 256, size=(n, 32), dtype=np.uint8)
    rows[: n // 10] = rows[0]  # a crowded bucket
    offsets = np.cumsum((0, *widths[:-1]))
    spec = np.array(list(zip(offsets, widths, strict=True)), dtype=np.int32)
    directory = np.empty(sum((1 << w) + 1 for w in widths), dtype=np.uint32)
    table = np.empty((len(widths), n), dtype=np.uint32)
    _hamming.build_tables(rows, 32, spec, directory, table, 2)
    base = 0
    for i, (off, width) in enumerate(spec.tolist()):
        values = _chunk_values(rows, off, width)
        order = np.argsort(values, kind="stable")
        assert np.array_equal(table[i], order)
        d = directory[base : base + (1 << width) + 1].astype(np.int64)
        assert np.array_equal(d, np.searchsorted(values[order], np.arange((1 << width) + 1)))
        base += (1 << width) + 1


def test_buffers_of_the_wrong_size_are_refused() -> None:
    rows = np.zeros((10, 32), dtype=np.uint8)
    spec = np.array([[0, 8]], dtype=np.int32)
    with pytest.raises(ValueError, match="wrong size"):
        _hamming.build_tables(rows, 32, spec, np.empty(10, np.uint32), np.empty(10, np.uint32), 1)
    with pytest.raises(ValueError, match="bad chunk"):
        _hamming.build_tables(
            rows,
            32,
            np.array([[250, 8]], dtype=np.int32),
            np.empty(257, np.uint32),
            np.empty(10, np.uint32),
            1,
        )
    with pytest.raises(ValueError, match="radius"):
        _hamming.query(rows, 32, np.zeros(2, np.uint8), spec, b"", b"", rows, 300, 1)
    with pytest.raises(ValueError, match="tombstone"):
        _hamming.query(rows, 32, b"", np.zeros((0, 3), np.int32), b"", b"", rows, 3, 1)


def test_corrupt_tables_never_read_out_of_bounds() -> None:
    """Directory entries and row numbers from a damaged file are clamped, not trusted."""
    rows = np.random.default_rng(0).integers(0, 256, size=(100, 32), dtype=np.uint8)
    spec = np.array([[0, 8, 8]], dtype=np.int32)
    directory = np.full(257, 0xFFFFFFFF, dtype=np.uint32)
    directory[:128] = 0
    table = np.full(100, 0xFFFFFFF0, dtype=np.uint32)
    table[:50] = np.arange(50)
    _, r, _ = _hamming.query(
        rows, 32, np.zeros(13, np.uint8), spec, directory, table, rows[:3], 256, 1
    )
    found = np.frombuffer(r, dtype=np.uint32)
    assert found.max(initial=0) < 100

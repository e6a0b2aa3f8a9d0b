"""Snapshots: round trips, atomic replacement, and a typed error for every unusable file."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from jaga.errors import JagaError
from jaga.index import ExactIndex, HammingIndex, SnapshotError, Tuning
from jaga.index.snapshot import MAGIC

TABLES = Tuning(min_table_rows=0, chunk_widths=(12,) * 16, merge_ratio=0.0)  # two segments


def _filled(n: int = 500, seed: int = 0) -> tuple[HammingIndex, np.ndarray]:
    rows = np.random.default_rng(seed).integers(0, 256, size=(n, 32), dtype=np.uint8)
    index = HammingIndex(tuning=TABLES)
    index.add(np.arange(n // 2) * 3, rows[: n // 2])
    index.add(np.arange(n // 2, n) * 3, rows[n // 2 :])
    index.remove([0, 3, 6])
    return index, rows


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    index, _ = _filled()
    path = tmp_path / "bank.jgx"
    index.save(path)
    return path


def _same(a: HammingIndex, b: HammingIndex, queries: np.ndarray, radius: int) -> bool:
    x, y = a.query(queries, radius), b.query(queries, radius)
    return (
        np.array_equal(x.query_index, y.query_index)
        and np.array_equal(x.ids, y.ids)
        and np.array_equal(x.distances, y.distances)
    )


@pytest.mark.parametrize("mmap", [True, False])
def test_round_trip_keeps_entries_tombstones_and_answers(tmp_path: Path, mmap: bool) -> None:
    index, rows = _filled()
    path = tmp_path / "bank.jgx"
    index.save(path)
    opened = HammingIndex.open(path, mmap=mmap, tuning=TABLES)
    assert len(opened) == len(index) == 497
    assert 0 not in opened
    assert 9 in opened
    assert opened.stats()["segments"] == index.stats()["segments"] == 2
    for radius in (0, 31, 64, 256):
        assert _same(index, opened, rows[:40], radius)


def test_opened_index_stays_writable_and_saves_over_its_own_file(saved: Path) -> None:
    opened = HammingIndex.open(saved)
    extra = np.full((1, 32), 7, dtype=np.uint8)
    opened.add([10_000], extra)
    assert opened.remove([9]) == 1
    opened.save(saved)  # the old file is still mapped: the rename must not disturb it
    assert opened.query_one(extra.tobytes(), 0) == [(10_000, 0)]
    again = HammingIndex.open(saved)
    assert 10_000 in again
    assert 9 not in again
    assert len(again) == len(opened)
    opened.compact()
    assert len(opened) == len(again)


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    index, _ = _filled(50)
    path = tmp_path / "bank.jgx"
    path.write_bytes(b"old")
    index.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["bank.jgx"]
    assert path.read_bytes()[:8] == MAGIC


def test_save_to_a_missing_directory_is_a_snapshot_error(tmp_path: Path) -> None:
    index, _ = _filled(10)
    with pytest.raises(SnapshotError, match="cannot write"):
        index.save(tmp_path / "nope" / "bank.jgx")


def test_empty_index_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "empty.jgx"
    HammingIndex().save(path)
    opened = HammingIndex.open(path)
    assert len(opened) == 0
    assert len(opened.query(np.zeros((1, 32), dtype=np.uint8), 5)) == 0


@pytest.mark.parametrize("keep", [0, 10, 30, 200, -1, -4096])
def test_truncated_snapshot(saved: Path, keep: int) -> None:
    data = saved.read_bytes()
    saved.write_bytes(data[:keep])
    with pytest.raises(SnapshotError, match="truncated") as err:
        HammingIndex.open(saved)
    assert isinstance(err.value, JagaError)
    assert "\n" not in str(err.value)


def test_snapshot_from_another_version(saved: Path) -> None:
    data = bytearray(saved.read_bytes())
    data[8:12] = struct.pack("<I", 2)
    saved.write_bytes(bytes(data))
    with pytest.raises(SnapshotError, match=r"format version 2.*reads version 1"):
        HammingIndex.open(saved)


def test_snapshot_with_wrong_magic(saved: Path) -> None:
    data = bytearray(saved.read_bytes())
    data[1:4] = b"PNG"
    saved.write_bytes(bytes(data))
    with pytest.raises(SnapshotError, match="not a Jaga index snapshot"):
        HammingIndex.open(saved)


def test_pickle_or_text_file_is_not_a_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "x.pkl"
    path.write_bytes(b"\x80\x04\x95" + b"\0" * 100)
    with pytest.raises(SnapshotError, match="not a Jaga index snapshot"):
        HammingIndex.open(path)


def test_damaged_header(saved: Path) -> None:
    data = bytearray(saved.read_bytes())
    data[30] ^= 0x01
    saved.write_bytes(bytes(data))
    with pytest.raises(SnapshotError, match="header checksum"):
        HammingIndex.open(saved)


def test_trailing_bytes(saved: Path) -> None:
    saved.write_bytes(saved.read_bytes() + b"\0")
    with pytest.raises(SnapshotError, match="after the data"):
        HammingIndex.open(saved)


def test_damaged_data_is_caught_by_checksums(saved: Path) -> None:
    data = bytearray(saved.read_bytes())
    data[-100] ^= 0xFF
    saved.write_bytes(bytes(data))
    HammingIndex.open(saved)  # mapped, unverified: opening stays cheap
    with pytest.raises(SnapshotError, match="checksum mismatch"):
        HammingIndex.open(saved, verify=True)
    with pytest.raises(SnapshotError, match="checksum mismatch"):
        HammingIndex.open(saved, mmap=False)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="no snapshot"):
        HammingIndex.open(tmp_path / "absent.jgx")


def test_kinds_are_not_interchangeable(tmp_path: Path) -> None:
    path = tmp_path / "exact.jgx"
    exact = ExactIndex(20)
    exact.add([1], np.ones((1, 20), dtype=np.uint8))
    exact.save(path)
    with pytest.raises(SnapshotError, match="'exact' index, not a 'hamming'"):
        HammingIndex.open(path)
    ham = tmp_path / "ham.jgx"
    HammingIndex().save(ham)
    with pytest.raises(SnapshotError, match="'hamming' index, not a 'exact'"):
        ExactIndex.open(ham)


def test_snapshot_holds_no_pickle(saved: Path) -> None:
    data = saved.read_bytes()
    assert b"\x80\x04\x95" not in data[:4096]
    assert b"numpy.core" not in data

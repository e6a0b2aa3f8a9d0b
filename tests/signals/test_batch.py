"""Batch helpers shared by `jaga hash` and `jaga scan`: walking, ordered pool, error records."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jaga.media import CorruptMedia
from jaga.signals.batch import (
    ErrorInfo,
    FileResult,
    csv_rows,
    hash_file,
    iter_files,
    map_ordered,
    result_record,
)
from jaga.signals.hashing import HashOptions


def test_walk_is_recursive_sorted_and_skips_hidden_entries_and_folder_links(
    tmp_path: Path,
) -> None:
    for name in ("b.jpg", "a.jpg", "sub/c.png", "sub/deeper/d.gif", ".hidden.jpg", ".git/x.jpg"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    os.symlink(tmp_path / "sub", tmp_path / "link-to-sub")
    found = [p.relative_to(tmp_path).as_posix() for p in iter_files([tmp_path])]
    assert found == ["a.jpg", "b.jpg", "sub/c.png", "sub/deeper/d.gif"]


def test_named_files_are_taken_as_given_even_hidden_or_missing(tmp_path: Path) -> None:
    hidden = tmp_path / ".x.jpg"
    hidden.write_bytes(b"x")
    missing = tmp_path / "missing.jpg"
    assert list(iter_files([hidden, str(missing)])) == [hidden, missing]


@pytest.mark.parametrize("workers", [1, 2])
def test_map_ordered_keeps_input_order(workers: int) -> None:
    # A builtin: worker processes cannot import test modules (pytest's importlib mode).
    assert list(map_ordered(hex, range(40), workers, window=2)) == [hex(x) for x in range(40)]


def test_hash_file_turns_failures_into_error_records(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 50)
    result = hash_file(bad, HashOptions())
    assert not result.ok
    assert result.error is not None
    assert result.error.type == "CorruptMedia"
    record = result_record(result)
    assert record == {
        "path": str(bad),
        "error": {"type": "CorruptMedia", "message": result.error.message},
    }
    assert list(csv_rows(result)) == [
        {"path": str(bad), "error_type": "CorruptMedia", "error_message": result.error.message}
    ]


def test_error_info_is_one_line_and_names_the_class() -> None:
    info = ErrorInfo.of(CorruptMedia("broken\n  badly"))
    assert info == ErrorInfo("CorruptMedia", "broken badly")
    io_error = ErrorInfo.of(PermissionError(13, "Permission denied", "/x.jpg"))
    assert io_error == ErrorInfo("UnreadableFile", "Permission denied: /x.jpg")
    assert FileResult("x", error=info).ok is False

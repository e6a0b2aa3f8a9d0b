"""Hashing many files: walking folders, a process pool, and one record per file or error.

Shared by ``jaga hash`` and ``jaga scan`` so that both walk folders, parallelise and report bad
files the same way. A bad file never stops a batch: it becomes an error record
``{"path": ..., "error": {"type": "CorruptMedia", "message": "..."}}``.

Folder walking rules: folders are walked recursively in sorted order; entries whose name starts
with ``.`` (hidden files and folders such as ``.git``) are skipped, as are symbolic links to
folders (no loops); files named explicitly are always taken, hidden or not.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Final, TypeVar

from jaga.errors import JagaError
from jaga.signals.base import Signal
from jaga.signals.hashing import ContentHashes, HashOptions, hash_path

T = TypeVar("T")
R = TypeVar("R")

CSV_FIELDS: Final = (
    "path",
    "kind",
    "format",
    "width",
    "height",
    "signal_type",
    "hash",
    "quality",
    "frame",
    "timestamp",
    "variant",
    "error_type",
    "error_message",
)


class UnreadableFile(JagaError):
    """A path that cannot be read (missing, a folder, no permission...)."""


@dataclass(frozen=True)
class ErrorInfo:
    type: str  # the error's class name, e.g. "CorruptMedia"
    message: str

    @classmethod
    def of(cls, error: BaseException) -> ErrorInfo:
        if isinstance(error, OSError):
            error = UnreadableFile(f"{error.strerror or error}: {error.filename or ''}")
        message = str(error) or type(error).__name__
        return cls(type(error).__name__, " ".join(message.split()))


@dataclass(frozen=True)
class FileResult:
    """The hashes of one file, or why it could not be hashed."""

    path: str
    hashes: ContentHashes | None = None
    error: ErrorInfo | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


# -- walking ---------------------------------------------------------------------------------------


def iter_files(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    """Files named, and the files inside folders named (see module docs for the rules).

    A path that does not exist is yielded as is, so that it gets an error record downstream.
    """
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from _walk(path)
        else:
            yield path


def _walk(folder: Path) -> Iterator[Path]:
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        yield folder  # reported as unreadable
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(Path(entry.path))
        elif entry.is_file():
            yield Path(entry.path)


# -- running ---------------------------------------------------------------------------------------


def map_ordered(
    func: Callable[[T], R], items: Iterable[T], workers: int = 1, *, window: int = 4
) -> Iterator[R]:
    """``map(func, items)`` on ``workers`` processes, results in input order.

    At most ``workers * window`` items are in flight, so memory stays flat on huge batches.
    ``func`` must be picklable (a module-level function or a ``functools.partial`` of one) and
    should not raise: wrap failures in its result. With ``workers <= 1`` everything runs here.
    """
    if workers <= 1:
        yield from map(func, items)
        return
    # forkserver: worker processes never inherit the parent's threads (progress bars, pools).
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: deque[Future[R]] = deque()
        for item in items:
            pending.append(pool.submit(func, item))
            if len(pending) >= workers * window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def hash_file(path: str | os.PathLike[str], options: HashOptions) -> FileResult:
    """Hash one file; any failure becomes an error record instead of an exception."""
    name = os.fspath(path)
    try:
        return FileResult(name, hashes=hash_path(name, options))
    except (JagaError, OSError) as error:
        return FileResult(name, error=ErrorInfo.of(error))
    except Exception as error:  # a bug, but one bad file must not stop a batch
        return FileResult(name, error=ErrorInfo(type(error).__name__, f"unexpected: {error}"))


def hash_files(
    paths: Iterable[str | os.PathLike[str]], options: HashOptions, workers: int = 1
) -> Iterator[FileResult]:
    """:func:`hash_file` over many paths (already expanded), in order, on ``workers`` processes."""
    return map_ordered(partial(hash_file, options=options), paths, workers)


# -- records ---------------------------------------------------------------------------------------


def signal_record(signal: Signal) -> dict[str, Any]:
    record: dict[str, Any] = {"type": signal.signal_type, "hash": signal.hex}
    if signal.quality is not None:
        record["quality"] = signal.quality
    if signal.frame is not None:
        record["frame"] = signal.frame
    if signal.timestamp is not None:
        record["timestamp"] = round(signal.timestamp, 6)
    if signal.variant:
        record["variant"] = signal.variant
    return record


def result_record(result: FileResult) -> dict[str, Any]:
    """One JSON-ready record per file: its hashes, or its error."""
    if result.error is not None or result.hashes is None:
        error = result.error or ErrorInfo("InternalError", "no result")
        return {"path": result.path, "error": {"type": error.type, "message": error.message}}
    h = result.hashes
    return {
        "path": result.path,
        "kind": h.kind,
        "format": h.format,
        "size": h.size,
        "width": h.width,
        "height": h.height,
        "frame_count": h.frame_count,
        "signals": [signal_record(s) for s in h.signals],
    }


def csv_rows(result: FileResult) -> Iterator[dict[str, Any]]:
    """Rows of the CSV output (columns :data:`CSV_FIELDS`): one per signal, or one error row."""
    if result.error is not None or result.hashes is None:
        error = result.error or ErrorInfo("InternalError", "no result")
        yield {"path": result.path, "error_type": error.type, "error_message": error.message}
        return
    h = result.hashes
    base: dict[str, Any] = {"path": result.path, "kind": h.kind, "format": h.format}
    base |= {"width": h.width, "height": h.height}
    for s in h.signals:
        yield base | {
            "signal_type": s.signal_type,
            "hash": s.hex,
            "quality": "" if s.quality is None else s.quality,
            "frame": "" if s.frame is None else s.frame,
            "timestamp": "" if s.timestamp is None else f"{s.timestamp:.3f}",
            "variant": s.variant,
        }

"""Native core of jaga.index (see _hamming.c). Buffers are C-contiguous; sizes are checked."""

from typing import Any, TypeAlias

from numpy.typing import NDArray

# numpy arrays export the buffer protocol; typing only learns that from Python 3.12.
Buffer: TypeAlias = NDArray[Any] | bytes | bytearray | memoryview

def build_tables(
    hashes: Buffer,
    row_bytes: int,
    chunks: Buffer,
    directory: Buffer,
    rows: Buffer,
    threads: int,
) -> None:
    """Fill the CSR tables: chunks holds int32 (offset, width) pairs; directory and rows out."""

def query(
    hashes: Buffer,
    row_bytes: int,
    tombstones: Buffer,
    chunks: Buffer,
    directory: Buffer,
    rows: Buffer,
    queries: Buffer,
    radius: int,
    threads: int,
) -> tuple[bytes, bytes, bytes]:
    """(query index int64, row uint32, distance int32) as raw bytes, sorted per query."""

def max_threads() -> int:
    """Threads OpenMP uses by default."""

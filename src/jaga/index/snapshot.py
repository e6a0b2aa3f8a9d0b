"""Index snapshots: one file of plain arrays that opens memory-mapped, with no unpickling.

Layout (all integers little-endian)::

    0   8 bytes   magic  b"\\x89JAGAIX\\n"
    8   uint32    format version (1)
    12  uint32    header length H
    16  uint32    CRC-32 of the header
    20  4 bytes   reserved, zero
    24  H bytes   JSON header: kind, parameters, data_bytes, and for each segment its metadata
                  and arrays (name -> offset, dtype, shape, crc32)
    ..  zeros up to the next multiple of 4096: the data area starts there
    ..  the arrays, raw, each at a 64-byte aligned offset into the data area

Opening checks the magic, the version, the header checksum, that the file is exactly as long as
the header says (a truncated copy is refused before anything is mapped) and that every array lies
inside the data area; the per-array checksums are verified when the data is read anyway
(``mmap=False``) or on request (``verify=True``), so opening a mapped 10-million-row snapshot
does not have to read a gigabyte. Writing goes to a temporary file in the same directory, which is
synced and then renamed over the target, so readers see the old snapshot or the new, never half.
"""

from __future__ import annotations

import json
import mmap as mmap_module
import os
import secrets
import struct
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from jaga.index.errors import SnapshotError

MAGIC = b"\x89JAGAIX\n"
VERSION = 1
_PREFIX = struct.Struct("<8sIII4x")
_DATA_ALIGN = 4096
_ARRAY_ALIGN = 64
_DTYPES = {"<i8": np.int64, "|u1": np.uint8, "<u4": np.uint32, "<i4": np.int32, "<u8": np.uint64}


@dataclass(frozen=True)
class Snapshot:
    """What a snapshot holds: index-level parameters and, per segment, metadata and arrays."""

    meta: dict[str, Any]
    segments: list[tuple[dict[str, Any], dict[str, NDArray[Any]]]]


def _align(n: int, to: int) -> int:
    return (n + to - 1) // to * to


def _raw(a: NDArray[Any]) -> memoryview:
    flat = np.ascontiguousarray(a).reshape(-1)
    return flat.view(np.uint8).data


def _dtype_name(a: NDArray[Any]) -> str:
    name = a.dtype.newbyteorder("<").str if a.dtype.itemsize > 1 else a.dtype.str
    if name not in _DTYPES:
        raise TypeError(f"cannot snapshot arrays of dtype {a.dtype}")
    return name


def write_snapshot(
    path: str | os.PathLike[str],
    meta: dict[str, Any],
    segments: list[tuple[dict[str, Any], dict[str, NDArray[Any]]]],
) -> None:
    """Write atomically: temporary file, fsync, rename over ``path``, fsync the directory."""
    if sys.byteorder != "little":
        raise SnapshotError("snapshots are written on little-endian machines only")
    target = Path(path)
    entries: list[dict[str, Any]] = []
    plan: list[tuple[int, NDArray[Any]]] = []
    at = 0
    for seg_meta, arrays in segments:
        described: dict[str, Any] = {}
        for name, a in arrays.items():
            at = _align(at, _ARRAY_ALIGN)
            described[name] = {
                "offset": at,
                "dtype": _dtype_name(a),
                "shape": [int(x) for x in a.shape],
                "crc32": zlib.crc32(_raw(a)),
            }
            plan.append((at, a))
            at += int(a.nbytes)
        entries.append({"meta": seg_meta, "arrays": described})
    header = json.dumps(
        {**meta, "byteorder": "little", "data_bytes": at, "segments": entries},
        separators=(",", ":"),
    ).encode()
    data_start = _align(_PREFIX.size + len(header), _DATA_ALIGN)

    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        with open(tmp, "wb") as f:
            f.write(_PREFIX.pack(MAGIC, VERSION, len(header), zlib.crc32(header)))
            f.write(header)
            f.write(b"\0" * (data_start - _PREFIX.size - len(header)))
            written = 0
            for offset, a in plan:
                f.write(b"\0" * (offset - written))
                f.write(_raw(a))
                written = offset + int(a.nbytes)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise SnapshotError(f"cannot write snapshot {target}: {e.strerror or e}") from e
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # not every platform lets a directory be opened; the rename is still atomic
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_snapshot(
    path: str | os.PathLike[str], kind: str, *, mmap: bool = True, verify: bool = False
) -> Snapshot:
    """Open and check a snapshot of index ``kind``; arrays are mapped read-only when ``mmap``."""
    source = Path(path)
    try:
        with open(source, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            header, data_start = _read_header(f, size, source)
            doc = _parse_header(header, source)
            if doc.get("kind") != kind:
                raise SnapshotError(
                    f"snapshot {source} holds a {doc.get('kind')!r} index, not a {kind!r} index"
                )
            expected = data_start + _int(doc, "data_bytes", source)
            if size < expected:
                raise SnapshotError(
                    f"snapshot {source} is truncated: expected {expected} bytes, found {size}; "
                    "rebuild the index from the store"
                )
            if size > expected:
                raise SnapshotError(
                    f"snapshot {source} is damaged: {size - expected} bytes after the data"
                )
            if mmap:
                mapped = mmap_module.mmap(f.fileno(), 0, access=mmap_module.ACCESS_READ)
                segments = _segments(doc, source, lambda o, n: (mapped, data_start + o))
            else:
                blob = bytearray(size - data_start)
                f.seek(data_start)
                if f.readinto(blob) != len(blob):
                    raise SnapshotError(f"snapshot {source} is truncated while reading")
                segments = _segments(doc, source, lambda o, n: (blob, o))
    except FileNotFoundError:
        raise SnapshotError(f"no snapshot at {source}") from None
    except OSError as e:
        raise SnapshotError(f"cannot read snapshot {source}: {e.strerror or e}") from e
    if verify or not mmap:
        _verify(doc, segments, source)
    meta = {k: v for k, v in doc.items() if k != "segments"}
    return Snapshot(meta, segments)


def _read_header(f: Any, size: int, source: Path) -> tuple[bytes, int]:
    if size < _PREFIX.size:
        raise SnapshotError(
            f"snapshot {source} is truncated: {size} bytes, shorter than its {_PREFIX.size}-byte "
            "prefix; rebuild the index from the store"
        )
    magic, version, header_len, header_crc = _PREFIX.unpack(f.read(_PREFIX.size))
    if magic != MAGIC:
        raise SnapshotError(f"{source} is not a Jaga index snapshot (wrong magic bytes)")
    if version != VERSION:
        raise SnapshotError(
            f"snapshot {source} has format version {version}, this Jaga reads version {VERSION}; "
            "rebuild the index from the store"
        )
    if _PREFIX.size + header_len > size:
        raise SnapshotError(
            f"snapshot {source} is truncated inside its header; rebuild the index from the store"
        )
    header = f.read(header_len)
    if zlib.crc32(header) != header_crc:
        raise SnapshotError(f"snapshot {source} is damaged: header checksum mismatch")
    return header, _align(_PREFIX.size + header_len, _DATA_ALIGN)


def _parse_header(header: bytes, source: Path) -> dict[str, Any]:
    try:
        doc = json.loads(header)
    except ValueError:
        raise SnapshotError(f"snapshot {source} is damaged: header is not JSON") from None
    if not isinstance(doc, dict) or doc.get("byteorder") != "little":
        raise SnapshotError(f"snapshot {source} is damaged: unexpected header")
    if sys.byteorder != "little":
        raise SnapshotError("snapshots are opened on little-endian machines only")
    return doc


def _int(doc: dict[str, Any], key: str, source: Path) -> int:
    value = doc.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise SnapshotError(f"snapshot {source} is damaged: bad {key!r} in header")
    return value


def _segments(
    doc: dict[str, Any], source: Path, locate: Any
) -> list[tuple[dict[str, Any], dict[str, NDArray[Any]]]]:
    data_bytes = _int(doc, "data_bytes", source)
    out: list[tuple[dict[str, Any], dict[str, NDArray[Any]]]] = []
    try:
        for entry in doc["segments"]:
            arrays: dict[str, NDArray[Any]] = {}
            for name, spec in entry["arrays"].items():
                dtype = _DTYPES[spec["dtype"]]
                shape = tuple(int(x) for x in spec["shape"])
                offset = int(spec["offset"])
                if any(x < 0 for x in shape) or offset < 0 or offset % _ARRAY_ALIGN:
                    raise ValueError(name)
                count = int(np.prod(shape, dtype=np.int64))
                nbytes = count * np.dtype(dtype).itemsize
                if offset + nbytes > data_bytes:
                    raise ValueError(name)
                buffer, start = locate(offset, nbytes)
                arrays[name] = np.frombuffer(
                    buffer, dtype=dtype, count=count, offset=start
                ).reshape(shape)
            meta = entry.get("meta", {})
            if not isinstance(meta, dict):
                raise ValueError("meta")
            out.append((meta, arrays))
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise SnapshotError(f"snapshot {source} is damaged: bad array table ({e})") from None
    return out


def _verify(
    doc: dict[str, Any],
    segments: list[tuple[dict[str, Any], dict[str, NDArray[Any]]]],
    source: Path,
) -> None:
    for entry, (_, arrays) in zip(doc["segments"], segments, strict=True):
        for name, a in arrays.items():
            if zlib.crc32(_raw(a)) != entry["arrays"][name].get("crc32"):
                raise SnapshotError(f"snapshot {source} is damaged: checksum mismatch in {name!r}")

"""In-memory search structures for every (bank, signal type): the matcher's working set.

One index per bank and signal type keeps per-bank thresholds, enabling and deleting a bank, and
allow-lists trivial (query the banks you want at their own radius, drop a bank by dropping its
indexes) and keeps ids plain: an index id is the bank entry's primary key. vPDQ entries are whole
videos; their usable frames go into a Hamming index under frame keys ``entry_id << 20 | k`` so a
query video's frames can be searched all at once and counted per entry afterwards.

Variant rows (extra hashes of an entry's media, see :class:`jaga.store.models.BankEntry`) go into
a second index of the same slot under their own ids, with :class:`VariantLinks` naming the entry
and variant each belongs to: :meth:`BankIndexSet.query` answers for entries as before, and
:meth:`BankIndexSet.query_variants` for variant rows, as hits on their parents. Counts are of
entries; variant rows are counted apart.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from jaga.errors import JagaError
from jaga.index import ExactIndex, HammingIndex, QueryResult, SnapshotError
from jaga.matching.variant_links import LinksError, VariantLinks
from jaga.signals import vpdq
from jaga.signals.registry import get_signal_type

#: Frame keys leave 20 bits for the frame's position in the entry: 1M frames, 11 days at 1 fps.
FRAME_BITS = 20
_FRAME_MASK = (1 << FRAME_BITS) - 1
_MANIFEST = "manifest.json"
#: 2: slots may hold variant rows (a second index and its links).
_FORMAT = 2

AnyIndex = HammingIndex | ExactIndex


class IndexStateError(JagaError):
    """A saved set of indexes cannot be used (missing, damaged, other version); rebuild it."""


def usable_frame_hashes(value: bytes, quality_threshold: int) -> list[bytes]:
    """Distinct frame hashes of a packed vPDQ value that are good enough to compare.

    Same rule as Meta's matcher: a repeated hash counts once (first occurrence), then frames under
    the quality threshold are dropped.
    """
    seen: set[bytes] = set()
    kept: list[bytes] = []
    for feature in vpdq.unpack(value):
        if feature.hash in seen:
            continue
        seen.add(feature.hash)
        if feature.quality >= quality_threshold:
            kept.append(feature.hash)
    return kept


@dataclass
class _Slot:
    index: AnyIndex
    # vPDQ only: usable frame count per entry (the target side of the match percentage).
    frames: dict[int, int]
    # Variant rows, under their own ids, and whose variants they are (None until one is added).
    variants: AnyIndex | None = None
    links: VariantLinks | None = None


@dataclass(frozen=True, eq=False)
class VariantHits:
    """Hits on variant rows, as hits on their parent entries: parallel arrays and a list,
    one row per (query row, variant row) within the radius."""

    query_index: NDArray[np.int64]
    entry_ids: NDArray[np.int64]
    distances: NDArray[np.int32]
    variants: list[str]

    def __len__(self) -> int:
        return int(self.entry_ids.shape[0])

    @classmethod
    def empty(cls) -> VariantHits:
        none = QueryResult.empty()
        return cls(none.query_index, none.ids, none.distances, [])


class BankIndexSet:
    """Indexes keyed by (bank id, signal type). Not thread-safe: the caller holds a lock."""

    def __init__(self, *, vpdq_quality_threshold: int = vpdq.VPDQ_QUALITY_THRESHOLD) -> None:
        self._slots: dict[tuple[int, str], _Slot] = {}
        self.vpdq_quality_threshold = vpdq_quality_threshold
        #: Who wrote a loaded snapshot: the ``origin`` given to :meth:`save` ("" if none).
        self.origin = ""

    # -- contents -----------------------------------------------------------------------------

    def keys(self) -> list[tuple[int, str]]:
        return sorted(self._slots)

    def signal_types(self, bank_id: int) -> list[str]:
        return sorted(st for (b, st) in self._slots if b == bank_id)

    def get(self, bank_id: int, signal_type: str) -> AnyIndex | None:
        slot = self._slots.get((bank_id, signal_type))
        return None if slot is None else slot.index

    def entry_count(self, bank_id: int, signal_type: str) -> int:
        """Entries of one bank and signal type (not counting variant rows)."""
        slot = self._slots.get((bank_id, signal_type))
        if slot is None:
            return 0
        return len(slot.frames) if signal_type == "vpdq" else len(slot.index)

    def variant_count(self, bank_id: int, signal_type: str) -> int:
        slot = self._slots.get((bank_id, signal_type))
        return 0 if slot is None or slot.variants is None else len(slot.variants)

    def total_entries(self) -> int:
        return sum(self.entry_count(b, st) for (b, st) in self._slots)

    def total_variants(self) -> int:
        return sum(self.variant_count(b, st) for (b, st) in self._slots)

    def memory_bytes(self) -> int:
        total = 0
        for slot in self._slots.values():
            total += slot.index.memory_bytes()
            if slot.variants is not None:
                total += slot.variants.memory_bytes()
        return total

    def vpdq_frame_count(self, bank_id: int, entry_id: int) -> int:
        slot = self._slots.get((bank_id, "vpdq"))
        return 0 if slot is None else slot.frames.get(entry_id, 0)

    def _slot(self, bank_id: int, signal_type: str) -> _Slot:
        key = (bank_id, signal_type)
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot(self._new_index(signal_type), {})
        return slot

    @staticmethod
    def _new_index(signal_type: str) -> AnyIndex:
        st = get_signal_type(signal_type)
        if signal_type == "vpdq":
            return HammingIndex(256)
        if st.kind == "exact":
            return ExactIndex(st.size)
        return HammingIndex(st.size * 8)

    def add(self, bank_id: int, signal_type: str, ids: NDArray[np.int64], values: Any) -> None:
        """Add (or replace) entries. ``values`` is an (n, size) uint8 array, or for vPDQ a
        sequence of packed values."""
        if len(ids) == 0:
            return
        slot = self._slot(bank_id, signal_type)
        if signal_type != "vpdq":
            slot.index.add(np.asarray(ids, dtype=np.int64), np.asarray(values, dtype=np.uint8))
            return
        self._remove_vpdq(slot, ids)
        keys: list[int] = []
        rows: list[bytes] = []
        for entry_id, value in zip(ids.tolist(), values, strict=True):
            hashes = usable_frame_hashes(bytes(value), self.vpdq_quality_threshold)
            slot.frames[entry_id] = len(hashes)
            keys.extend((entry_id << FRAME_BITS) | k for k in range(len(hashes)))
            rows.extend(hashes)
        if rows:
            data = np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(-1, 32)
            slot.index.add(np.array(keys, dtype=np.int64), data)

    def add_variants(
        self,
        bank_id: int,
        signal_type: str,
        ids: NDArray[np.int64],
        values: NDArray[np.uint8],
        parents: NDArray[np.int64],
        names: Sequence[str],
    ) -> None:
        """Add (or replace) variant rows: ``ids`` are their own entry ids, ``parents`` the
        entries they belong to, ``names`` the variants (``"crop:8"``)."""
        if len(ids) == 0:
            return
        if signal_type == "vpdq":
            raise IndexStateError("vPDQ entries have no variant rows")
        if not len(ids) == len(parents) == len(names):
            raise IndexStateError("variant rows need one parent and one name each")
        slot = self._slot(bank_id, signal_type)
        if slot.variants is None or slot.links is None:
            slot.variants = self._new_index(signal_type)
            slot.links = VariantLinks()
        slot.links.add(np.asarray(ids, dtype=np.int64), np.asarray(parents), names)
        slot.variants.add(np.asarray(ids, dtype=np.int64), np.asarray(values, dtype=np.uint8))

    def settle(self) -> None:
        """Finish what big loads left pending (call before the first query after one)."""
        for slot in self._slots.values():
            if slot.links is not None:
                slot.links.settle()

    def remove(self, bank_id: int, ids: Sequence[int], signal_type: str | None = None) -> int:
        """Remove entries (and variant rows) from one signal type of a bank, or from all."""
        removed = 0
        arr = np.asarray(ids, dtype=np.int64)
        for (b, st), slot in list(self._slots.items()):
            if b != bank_id or (signal_type is not None and st != signal_type):
                continue
            removed += self._remove_vpdq(slot, arr) if st == "vpdq" else slot.index.remove(arr)
            if slot.variants is not None and slot.links is not None:
                removed += slot.variants.remove(arr)
                slot.links.discard(arr)
        return removed

    @staticmethod
    def _remove_vpdq(slot: _Slot, ids: Iterable[int]) -> int:
        keys: list[int] = []
        removed = 0
        for entry_id in np.asarray(ids, dtype=np.int64).tolist():
            count = slot.frames.pop(entry_id, None)
            if count is None:
                continue
            removed += 1
            keys.extend((entry_id << FRAME_BITS) | k for k in range(count))
        if keys:
            slot.index.remove(np.array(keys, dtype=np.int64))
        return removed

    def replace_bank(self, bank_id: int, other: BankIndexSet) -> None:
        """Swap in ``other``'s indexes for one bank (built elsewhere, e.g. outside a lock)."""
        self.drop_bank(bank_id)
        for (b, st), slot in other._slots.items():
            if b == bank_id:
                self._slots[(b, st)] = slot

    def drop_bank(self, bank_id: int) -> None:
        for key in [k for k in self._slots if k[0] == bank_id]:
            del self._slots[key]

    def clear(self) -> None:
        self._slots.clear()

    # -- queries ------------------------------------------------------------------------------

    def query(
        self, bank_id: int, signal_type: str, hashes: NDArray[np.uint8], radius: int
    ) -> QueryResult:
        """Rows of ``hashes`` against one bank; for vPDQ the ids are frame keys."""
        slot = self._slots.get((bank_id, signal_type))
        if slot is None or len(slot.index) == 0:
            return QueryResult.empty()
        if isinstance(slot.index, ExactIndex):
            return slot.index.query(hashes)
        return slot.index.query(hashes, radius, threads=1)

    def query_variants(
        self, bank_id: int, signal_type: str, hashes: NDArray[np.uint8], radius: int
    ) -> VariantHits:
        """Rows of ``hashes`` against one bank's variant rows, reported as their parents."""
        slot = self._slots.get((bank_id, signal_type))
        if slot is None or slot.variants is None or slot.links is None:
            return VariantHits.empty()
        if len(slot.variants) == 0:
            return VariantHits.empty()
        if isinstance(slot.variants, ExactIndex):
            result = slot.variants.query(hashes)
        else:
            result = slot.variants.query(hashes, radius, threads=1)
        if len(result) == 0:
            return VariantHits.empty()
        try:
            parents, names = slot.links.resolve(result.ids)
        except LinksError as error:
            raise IndexStateError(str(error)) from None
        return VariantHits(result.query_index, parents, result.distances, names)

    @staticmethod
    def frame_entry(keys: NDArray[np.int64]) -> NDArray[np.int64]:
        return keys >> FRAME_BITS

    # -- snapshots ----------------------------------------------------------------------------

    def save(self, directory: str | os.PathLike[str], *, seq: int, origin: str = "") -> None:
        """Write every index plus a manifest recording the change-feed position ``seq``.

        ``origin`` is stored as is and comes back as :attr:`origin` on load: the live matcher
        records which store (and which feed row) the snapshot reflects, so that a snapshot left
        over from another database is never taken for this one's.

        Written into a fresh sibling folder and swapped in by rename, so a crash mid-save leaves
        the previous snapshot intact; a lock file keeps several server processes sharing the
        folder from swapping at the same time (readers that already opened the old files keep
        their memory maps: unlinked files live on until unmapped).
        """
        target = Path(directory)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target.with_name(target.name + ".lock"), "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._save_locked(target, seq, origin)

    def _save_locked(self, target: Path, seq: int, origin: str) -> None:
        staging = target.with_name(target.name + ".staging")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        slots = []
        for (bank_id, signal_type), slot in sorted(self._slots.items()):
            name = f"{bank_id}-{signal_type}"
            slot.index.save(staging / name)
            item: dict[str, Any] = {
                "bank_id": bank_id,
                "signal_type": signal_type,
                "path": name,
                "frames": [[k, v] for k, v in sorted(slot.frames.items())],
            }
            if slot.variants is not None and slot.links is not None:
                slot.variants.save(staging / f"{name}.variants")
                slot.links.save(staging / f"{name}.links.npy")
                item["variants"] = {
                    "path": f"{name}.variants",
                    "links": f"{name}.links.npy",
                    "names": list(slot.links.names),
                }
            slots.append(item)
        manifest = {"format": _FORMAT, "seq": seq, "origin": origin, "slots": slots}
        (staging / _MANIFEST).write_text(json.dumps(manifest))
        old = target.with_name(target.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if target.exists():
            target.rename(old)
        staging.rename(target)
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> tuple[BankIndexSet, int]:
        """Open a saved set (memory-mapped); returns it and the change-feed position it reflects."""
        path = Path(directory)
        try:
            manifest = json.loads((path / _MANIFEST).read_text())
        except FileNotFoundError:
            raise IndexStateError(f"no saved index at {path}") from None
        except (OSError, ValueError) as e:
            raise IndexStateError(f"saved index manifest at {path} is unreadable: {e}") from None
        if not isinstance(manifest, dict) or manifest.get("format") != _FORMAT:
            raise IndexStateError(f"saved index at {path} is from another version of Jaga")
        result = cls()
        try:
            for item in _slot_items(manifest):
                signal_type = str(item["signal_type"])
                opener = (
                    ExactIndex if get_signal_type(signal_type).kind == "exact" else HammingIndex
                )
                if signal_type == "vpdq":
                    opener = HammingIndex
                index = opener.open(path / str(item["path"]))
                frames = {int(k): int(v) for k, v in item.get("frames", [])}
                slot = _Slot(index, frames)
                extra = item.get("variants")
                if extra is not None:
                    if not isinstance(extra, dict) or not isinstance(extra.get("names"), list):
                        raise TypeError("variants is not an object with names")
                    slot.variants = opener.open(path / str(extra["path"]))
                    slot.links = VariantLinks.open(
                        path / str(extra["links"]), [str(n) for n in extra["names"]]
                    )
                result._slots[(int(item["bank_id"]), signal_type)] = slot
            seq = int(manifest["seq"])
            result.origin = str(manifest.get("origin", ""))
        except (SnapshotError, LinksError) as e:
            raise IndexStateError(f"saved index at {path} is damaged: {e}") from None
        except (KeyError, TypeError, ValueError, JagaError) as e:
            raise IndexStateError(f"saved index manifest at {path} is invalid: {e}") from None
        return result, seq


def _slot_items(manifest: dict[str, Any]) -> Iterator[dict[str, Any]]:
    slots = manifest.get("slots")
    if not isinstance(slots, list):
        raise TypeError("slots is not a list")
    for item in slots:
        if not isinstance(item, dict):
            raise TypeError("slot is not an object")
        yield item

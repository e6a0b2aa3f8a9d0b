"""BankIndexSet: an index per (bank, signal type), vPDQ frame keys, snapshots that refuse damage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

import jaga.signals  # noqa: F401  (registers the signal types)
from jaga.matching.bank_index import FRAME_BITS, BankIndexSet, IndexStateError
from jaga.signals import vpdq


def _ids(*values: int) -> NDArray[np.int64]:
    return np.array(values, dtype=np.int64)


def _rows(values: list[bytes]) -> NDArray[np.uint8]:
    size = len(values[0])
    return np.frombuffer(b"".join(values), dtype=np.uint8).reshape(len(values), size)


def _pdq(seed: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, 32, dtype=np.uint8).tobytes()


def _flip(value: bytes, bits: int) -> bytes:
    """``value`` with its first ``bits`` bits inverted: exactly ``bits`` away."""
    as_int = int.from_bytes(value, "big") ^ (((1 << bits) - 1) << (256 - bits))
    return as_int.to_bytes(32, "big")


def _video(seeds: list[int], quality: int = 100) -> bytes:
    return vpdq.pack(
        vpdq.VpdqFeature(_pdq(seed), quality, k, k * 1.0) for k, seed in enumerate(seeds)
    )


def _hits(indexes: BankIndexSet, bank: int, st: str, value: bytes, radius: int) -> list[int]:
    result = indexes.query(bank, st, _rows([value]), radius)
    return sorted(result.ids.tolist())


def test_add_and_remove_per_bank_and_type() -> None:
    indexes = BankIndexSet()
    indexes.add(1, "pdq", _ids(10, 11), _rows([_pdq(1), _pdq(2)]))
    indexes.add(2, "pdq", _ids(20), _rows([_pdq(1)]))
    indexes.add(1, "md5", _ids(12), _rows([b"\x07" * 16]))
    assert indexes.keys() == [(1, "md5"), (1, "pdq"), (2, "pdq")]
    assert indexes.signal_types(1) == ["md5", "pdq"]
    assert indexes.entry_count(1, "pdq") == 2
    assert indexes.entry_count(3, "pdq") == 0
    assert indexes.total_entries() == 4
    # The same hash in two banks: each bank answers with its own entry only.
    assert _hits(indexes, 1, "pdq", _pdq(1), 0) == [10]
    assert _hits(indexes, 2, "pdq", _pdq(1), 0) == [20]
    assert _hits(indexes, 3, "pdq", _pdq(1), 31) == []
    # Removing from one type of one bank leaves the others alone.
    assert indexes.remove(1, [10], "pdq") == 1
    assert _hits(indexes, 1, "pdq", _pdq(1), 0) == []
    assert _hits(indexes, 2, "pdq", _pdq(1), 0) == [20]
    assert indexes.remove(1, [12], "pdq") == 0  # entry 12 is md5
    assert indexes.entry_count(1, "md5") == 1
    # Without a type: every type of the bank.
    assert indexes.remove(1, [11, 12]) == 2
    assert indexes.total_entries() == 1
    # Adding an id again replaces its hash.
    indexes.add(2, "pdq", _ids(20), _rows([_pdq(3)]))
    assert _hits(indexes, 2, "pdq", _pdq(1), 0) == []
    assert _hits(indexes, 2, "pdq", _pdq(3), 0) == [20]
    assert indexes.entry_count(2, "pdq") == 1


def test_radius_is_inclusive() -> None:
    indexes = BankIndexSet()
    indexes.add(1, "pdq", _ids(1), _rows([_pdq(1)]))
    near = _flip(_pdq(1), 12)
    assert _hits(indexes, 1, "pdq", near, 12) == [1]
    assert _hits(indexes, 1, "pdq", near, 11) == []


@pytest.mark.parametrize(("signal_type", "size"), [("md5", 16), ("sha1", 20), ("sha256", 32)])
def test_exact_types_match_equal_digests_only(signal_type: str, size: int) -> None:
    indexes = BankIndexSet()
    digests = [bytes([i]) * size for i in range(1, 6)]
    indexes.add(4, signal_type, _ids(1, 2, 3, 4, 5), _rows(digests))
    assert _hits(indexes, 4, signal_type, digests[2], 0) == [3]
    one_bit_off = bytes([digests[2][0] ^ 1]) + digests[2][1:]
    # Exact types ignore the radius: a digest one bit away is a different file.
    assert _hits(indexes, 4, signal_type, one_bit_off, 255) == []
    result = indexes.query(4, signal_type, _rows([digests[0], digests[4], one_bit_off]), 0)
    assert result.query_index.tolist() == [0, 1]
    assert result.ids.tolist() == [1, 5]
    assert result.distances.tolist() == [0, 0]


def test_vpdq_entries_are_counted_per_entry_and_removed_whole() -> None:
    indexes = BankIndexSet()
    # Entry 7: 4 frames, one repeated (counts once). Entry 8: 3 frames, one under the quality
    # threshold (dropped). Entry 9: no usable frame at all.
    seven = _video([1, 2, 3, 1])
    eight = vpdq.pack(
        [
            vpdq.VpdqFeature(_pdq(11), 100, 0, 0.0),
            vpdq.VpdqFeature(_pdq(12), 10, 1, 1.0),
            vpdq.VpdqFeature(_pdq(13), 90, 2, 2.0),
        ]
    )
    nine = _video([21], quality=0)
    indexes.add(3, "vpdq", _ids(7, 8, 9), [seven, eight, nine])
    assert indexes.entry_count(3, "vpdq") == 3
    assert indexes.vpdq_frame_count(3, 7) == 3
    assert indexes.vpdq_frame_count(3, 8) == 2
    assert indexes.vpdq_frame_count(3, 9) == 0
    assert indexes.vpdq_frame_count(3, 99) == 0
    assert indexes.vpdq_frame_count(4, 7) == 0
    assert indexes.total_entries() == 3
    index = indexes.get(3, "vpdq")
    assert index is not None
    assert len(index) == 5  # frame rows: 3 + 2 + 0

    result = indexes.query(3, "vpdq", _rows([_pdq(2), _pdq(13), _pdq(12), _pdq(21)]), 0)
    entries = BankIndexSet.frame_entry(result.ids).tolist()
    assert list(zip(result.query_index.tolist(), entries, strict=True)) == [(0, 7), (1, 8)]
    assert all(key >> FRAME_BITS in (7, 8) for key in result.ids.tolist())

    # Removing an entry removes every frame of it, and nothing of the others.
    assert indexes.remove(3, [7]) == 1
    assert len(index) == 2
    assert indexes.entry_count(3, "vpdq") == 2
    assert _hits(indexes, 3, "vpdq", _pdq(1), 0) == []
    assert _hits(indexes, 3, "vpdq", _pdq(3), 0) == []
    assert BankIndexSet.frame_entry(np.array(_hits(indexes, 3, "vpdq", _pdq(11), 0))).tolist() == [
        8
    ]
    assert indexes.remove(3, [7]) == 0

    # Re-adding an entry with fewer frames leaves none of its old frames behind.
    indexes.add(3, "vpdq", _ids(8), [_video([31])])
    assert indexes.vpdq_frame_count(3, 8) == 1
    assert _hits(indexes, 3, "vpdq", _pdq(11), 0) == []
    assert _hits(indexes, 3, "vpdq", _pdq(13), 0) == []
    assert BankIndexSet.frame_entry(np.array(_hits(indexes, 3, "vpdq", _pdq(31), 0))).tolist() == [
        8
    ]
    assert len(index) == 1


def test_quality_threshold_of_the_set_applies_to_vpdq_frames() -> None:
    strict = BankIndexSet(vpdq_quality_threshold=95)
    strict.add(1, "vpdq", _ids(1), [_video([1, 2], quality=90)])
    assert strict.vpdq_frame_count(1, 1) == 0
    lenient = BankIndexSet(vpdq_quality_threshold=0)
    lenient.add(1, "vpdq", _ids(1), [_video([1, 2], quality=0)])
    assert lenient.vpdq_frame_count(1, 1) == 2


def test_replace_bank_and_drop_bank() -> None:
    indexes = BankIndexSet()
    indexes.add(1, "pdq", _ids(1), _rows([_pdq(1)]))
    indexes.add(1, "md5", _ids(2), _rows([b"\x01" * 16]))
    indexes.add(2, "pdq", _ids(3), _rows([_pdq(3)]))
    fresh = BankIndexSet()
    fresh.add(1, "pdq", _ids(4), _rows([_pdq(4)]))
    fresh.add(2, "pdq", _ids(5), _rows([_pdq(5)]))  # another bank: not taken
    indexes.replace_bank(1, fresh)
    assert indexes.keys() == [(1, "pdq"), (2, "pdq")]  # bank 1's md5 went with the old bank
    assert _hits(indexes, 1, "pdq", _pdq(1), 0) == []
    assert _hits(indexes, 1, "pdq", _pdq(4), 0) == [4]
    assert _hits(indexes, 2, "pdq", _pdq(3), 0) == [3]
    assert _hits(indexes, 2, "pdq", _pdq(5), 0) == []
    indexes.drop_bank(1)
    assert indexes.keys() == [(2, "pdq")]
    assert _hits(indexes, 1, "pdq", _pdq(4), 31) == []
    indexes.drop_bank(42)  # nothing there: no error
    indexes.clear()
    assert indexes.keys() == []
    assert indexes.total_entries() == 0


def _populated() -> BankIndexSet:
    indexes = BankIndexSet()
    indexes.add(1, "pdq", _ids(*range(1, 41)), _rows([_pdq(i) for i in range(1, 41)]))
    indexes.remove(1, [5, 6])
    indexes.add(1, "md5", _ids(100, 101), _rows([b"\x01" * 16, b"\x02" * 16]))
    indexes.add(2, "pdq", _ids(200), _rows([_pdq(1)]))
    indexes.add(2, "vpdq", _ids(300, 301), [_video([50, 51, 52]), _video([60, 50])])
    indexes.add(3, "sha256", _ids(400), _rows([b"\x09" * 32]))
    return indexes


def _answers(indexes: BankIndexSet) -> dict[tuple[int, str], list[tuple[int, int, int]]]:
    """Every query answer of a fixed probe set, per (bank, type)."""
    probes = {
        "pdq": [_pdq(i) for i in range(0, 45)] + [_flip(_pdq(7), 20), _flip(_pdq(8), 40)],
        "vpdq": [_pdq(i) for i in (50, 51, 52, 60, 61)] + [_flip(_pdq(50), 9)],
        "md5": [b"\x01" * 16, b"\x02" * 16, b"\x03" * 16],
        "sha256": [b"\x09" * 32, b"\x08" * 32],
    }
    out = {}
    for bank, st in indexes.keys():  # noqa: SIM118  (a method, not a dict)
        result = indexes.query(bank, st, _rows(probes[st]), 31)
        out[(bank, st)] = list(
            zip(
                result.query_index.tolist(),
                result.ids.tolist(),
                result.distances.tolist(),
                strict=True,
            )
        )
    return out


def test_save_and_load_give_the_same_answers(tmp_path: Path) -> None:
    indexes = _populated()
    before = _answers(indexes)
    assert sum(len(v) for v in before.values()) > 40  # the probes do hit
    indexes.save(tmp_path / "index", seq=17)
    loaded, seq = BankIndexSet.load(tmp_path / "index")
    assert seq == 17
    assert loaded.keys() == indexes.keys()
    assert _answers(loaded) == before
    for bank, st in indexes.keys():  # noqa: SIM118  (a method, not a dict)
        assert loaded.entry_count(bank, st) == indexes.entry_count(bank, st)
    assert loaded.vpdq_frame_count(2, 300) == 3
    assert loaded.vpdq_frame_count(2, 301) == 2
    # A loaded (memory-mapped) set keeps changing like a built one, and saves over itself.
    loaded.remove(2, [300])
    loaded.add(1, "pdq", _ids(5), _rows([_pdq(5)]))
    assert _hits(loaded, 2, "vpdq", _pdq(51), 0) == []
    assert _hits(loaded, 1, "pdq", _pdq(5), 0) == [5]
    expected = _answers(loaded)
    loaded.save(tmp_path / "index", seq=18)
    again, seq = BankIndexSet.load(tmp_path / "index")
    assert seq == 18
    assert _answers(again) == expected
    assert not (tmp_path / "index.staging").exists()
    assert not (tmp_path / "index.old").exists()


def test_save_of_an_empty_set(tmp_path: Path) -> None:
    BankIndexSet().save(tmp_path / "empty", seq=0)
    loaded, seq = BankIndexSet.load(tmp_path / "empty")
    assert (loaded.keys(), seq) == ([], 0)


def _saved(tmp_path: Path) -> Path:
    target = tmp_path / "index"
    _populated().save(target, seq=3)
    return target


def _manifest(target: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((target / "manifest.json").read_text())
    return data


def test_load_of_nothing_raises(tmp_path: Path) -> None:
    with pytest.raises(IndexStateError, match="no saved index"):
        BankIndexSet.load(tmp_path / "missing")


def test_load_of_a_truncated_index_file_raises(tmp_path: Path) -> None:
    target = _saved(tmp_path)
    data = (target / "1-pdq").read_bytes()
    (target / "1-pdq").write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexStateError, match="damaged"):
        BankIndexSet.load(target)


def test_load_of_a_missing_index_file_raises(tmp_path: Path) -> None:
    target = _saved(tmp_path)
    (target / "2-vpdq").unlink()
    with pytest.raises(IndexStateError):
        BankIndexSet.load(target)


def test_load_of_a_swapped_index_file_raises(tmp_path: Path) -> None:
    """An exact index where the manifest says PDQ (the files got mixed up) is refused."""
    target = _saved(tmp_path)
    (target / "1-pdq").write_bytes((target / "1-md5").read_bytes())
    with pytest.raises(IndexStateError):
        BankIndexSet.load(target)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{not json",
        "[]",
        '{"format": 1}',
        '{"format": 1, "seq": 3, "slots": {}}',
        '{"format": 1, "seq": 3, "slots": [7]}',
        '{"format": 1, "seq": "x", "slots": []}',
        '{"format": 1, "seq": 3, "slots": [{"bank_id": 1, "signal_type": "no", "path": "1-pdq"}]}',
        '{"format": 1, "seq": 3, "slots": [{"bank_id": 1, "path": "1-pdq"}]}',
    ],
)
def test_load_of_a_damaged_manifest_raises(tmp_path: Path, text: str) -> None:
    target = _saved(tmp_path)
    (target / "manifest.json").write_text(text)
    with pytest.raises(IndexStateError):
        BankIndexSet.load(target)


def test_load_of_damaged_frame_counts_raises(tmp_path: Path) -> None:
    target = _saved(tmp_path)
    manifest = _manifest(target)
    slots = manifest["slots"]
    assert isinstance(slots, list)
    vpdq_slot = next(s for s in slots if s["signal_type"] == "vpdq")
    vpdq_slot["frames"] = [[300, "three"]]
    (target / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexStateError):
        BankIndexSet.load(target)


def test_load_of_another_version_raises(tmp_path: Path) -> None:
    target = _saved(tmp_path)
    manifest = _manifest(target)
    manifest["format"] = 99
    (target / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexStateError, match="another version"):
        BankIndexSet.load(target)


def test_load_of_an_index_file_of_another_format_version_raises(tmp_path: Path) -> None:
    target = _saved(tmp_path)
    data = bytearray((target / "1-pdq").read_bytes())
    data[8:12] = (99).to_bytes(4, "little")  # the snapshot format version field
    (target / "1-pdq").write_bytes(bytes(data))
    with pytest.raises(IndexStateError, match="version"):
        BankIndexSet.load(target)

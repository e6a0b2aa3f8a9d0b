"""What the matcher reads: packed arrays of active hashes, changed entries, expiring disables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from jaga.banks import service, sync
from jaga.banks.records import EntryRecord
from jaga.signals import vpdq
from jaga.store import Database


def _pdq(i: int) -> bytes:
    return i.to_bytes(32, "big")


def _video(frames: int, seed: int) -> bytes:
    return vpdq.pack(
        vpdq.VpdqFeature(_pdq(seed * 1000 + k), 100, k, k * 0.5) for k in range(frames)
    )


def test_active_hashes_as_arrays(database: Database) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    with database.session() as session:
        service.create_bank(session, "a")
        service.create_bank(session, "b")
        service.create_bank(session, "off", enabled=False)
        service.add_entries(session, "a", [EntryRecord("pdq", _pdq(i)) for i in range(25)])
        service.add_entries(session, "b", [EntryRecord("pdq", _pdq(i)) for i in range(20, 30)])
        service.add_entries(session, "off", [EntryRecord("pdq", _pdq(i)) for i in range(100, 105)])
        service.add_entry(session, "a", "md5", b"\x01" * 16)
        hidden = service.add_entry(session, "a", "pdq", _pdq(999)).id
        service.disable_entry(session, hidden, later)
    with database.session() as session:
        chunks = list(sync.iter_active_hashes_by_bank(session, "pdq", chunk=7))
        assert all(len(ids) <= 7 for _, ids, _ in chunks)
        by_bank: dict[int, dict[int, bytes]] = {}
        for bank_id, ids, values in chunks:
            assert isinstance(values, np.ndarray)
            assert ids.dtype == np.int64
            assert values.dtype == np.uint8
            assert values.shape == (len(ids), 32)
            for entry_id, row in zip(ids.tolist(), values, strict=True):
                by_bank.setdefault(bank_id, {})[entry_id] = row.tobytes()
        a = service.get_bank(session, "a").id
        b = service.get_bank(session, "b").id
        assert sorted(by_bank) == [a, b]
        assert sorted(by_bank[a].values()) == [_pdq(i) for i in range(25)]
        assert sorted(by_bank[b].values()) == [_pdq(i) for i in range(20, 30)]
        for bank_id, entries in by_bank.items():
            for entry_id, value in entries.items():
                entry = service.get_entry(session, entry_id)
                assert (entry.bank_id, entry.value) == (bank_id, value)
        # All banks together, one bank, and a moment after the disable ran out.
        total = sum(len(ids) for ids, _ in sync.iter_active_hashes(session, "pdq"))
        assert total == 35
        only_b = list(sync.iter_active_hashes(session, "pdq", bank_id=b))
        assert sum(len(ids) for ids, _ in only_b) == 10
        future = sync.iter_active_hashes(session, "pdq", now=later + timedelta(seconds=1))
        assert sum(len(ids) for ids, _ in future) == 36
        md5 = list(sync.iter_active_hashes(session, "md5"))
        assert len(md5) == 1
        assert md5[0][1].shape == (1, 16)


def test_vpdq_values_come_as_a_list(database: Database) -> None:
    videos = [_video(3, 1), _video(5, 2)]
    with database.session() as session:
        service.create_bank(session, "v")
        for video in videos:
            service.add_entry(session, "v", "vpdq", video)
    with database.session() as session:
        ((ids, values),) = sync.iter_active_hashes(session, "vpdq")
        assert isinstance(values, list)
        assert sorted(values) == sorted(videos)
        assert len(ids) == 2
    assert sync.is_variable_size("vpdq")
    assert not sync.is_variable_size("pdq")


def test_active_hashes_for_changed_entries(database: Database) -> None:
    with database.session() as session:
        service.create_bank(session, "a")
        service.create_bank(session, "off", enabled=False)
        keep = service.add_entry(session, "a", "pdq", _pdq(1)).id
        disabled = service.add_entry(session, "a", "pdq", _pdq(2)).id
        in_off = service.add_entry(session, "off", "pdq", _pdq(3)).id
        gone = service.add_entry(session, "a", "pdq", _pdq(4)).id
        service.disable_entry(session, disabled)
        service.delete_entry(session, gone)
    with database.session() as session:
        active = sync.active_hashes(session, [keep, disabled, in_off, gone])
    assert [(a.id, a.value) for a in active] == [(keep, _pdq(1))]


def test_expired_disables_are_released_onto_the_feed(database: Database) -> None:
    now = datetime.now(UTC)
    with database.session() as session:
        service.create_bank(session, "a")
        soon = service.add_entry(session, "a", "pdq", _pdq(1)).id
        forever = service.add_entry(session, "a", "pdq", _pdq(2)).id
        service.disable_entry(session, soon, now + timedelta(minutes=5))
        service.disable_entry(session, forever)
        seq = sync.latest_change_seq(session)
    with database.session() as session:
        assert sync.release_expired_disables(session, now=now + timedelta(minutes=1)) == 0
        assert sync.release_expired_disables(session, now=now + timedelta(minutes=6)) == 1
    with database.session() as session:
        changes = sync.changes_since(session, seq)
        assert [(c.op, c.entry_id) for c in changes] == [("update", soon)]
        assert service.get_entry(session, soon).disabled_until is None
        assert sync.release_expired_disables(session, now=now + timedelta(minutes=7)) == 0

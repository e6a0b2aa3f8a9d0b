"""LiveMatcher: built from the store, kept current by the change feed, saved and reopened.

Every test runs on SQLite and on PostgreSQL (the ``database`` fixture).
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import update

from jaga.banks import service, sync
from jaga.banks.records import EntryRecord
from jaga.matching.live import LiveMatcher
from jaga.matching.types import MatchOutcome
from jaga.signals import vpdq
from jaga.signals.base import Signal
from jaga.store import Database, open_database
from jaga.store.models import BankEntry
from jaga.store.repo_changes import prune_changes


def _pdq(seed: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, 32, dtype=np.uint8).tobytes()


def _flip(value: bytes, bits: int) -> bytes:
    return (int.from_bytes(value, "big") ^ ((1 << bits) - 1)).to_bytes(32, "big")


def _query(value: bytes) -> list[Signal]:
    return [Signal("pdq", value, quality=100)]


def _hits(matcher: LiveMatcher, value: bytes, **kwargs: object) -> list[tuple[str, int, int]]:
    outcome = matcher.match(_query(value), **kwargs)  # type: ignore[arg-type]
    return [(m.bank_name, m.entry_id, m.distance) for m in outcome.matches]


def _add(db: Database, bank: str, value: bytes, signal_type: str = "pdq") -> int:
    with db.session() as session:
        return service.add_entry(session, bank, signal_type, value).id


def _create(db: Database, *names: str, **kwargs: object) -> None:
    with db.session() as session:
        for name in names:
            service.create_bank(session, name, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def matcher(database: Database) -> LiveMatcher:
    _create(database, "known")
    return LiveMatcher(database).open()


def test_builds_from_the_store(database: Database) -> None:
    video = vpdq.pack(vpdq.VpdqFeature(_pdq(50 + k), 100, k, float(k)) for k in range(5))
    later = datetime.now(UTC) + timedelta(days=1)
    _create(database, "a")
    _create(database, "off", enabled=False)
    with database.session() as session:
        service.create_bank(session, "tight", thresholds={"pdq": 5})
        ids = {
            "a1": service.add_entry(session, "a", "pdq", _pdq(1)).id,
            "a2": service.add_entry(session, "a", "md5", bytes(16)).id,
            "a3": service.add_entry(session, "a", "vpdq", video).id,
            "hidden": service.add_entry(session, "a", "pdq", _pdq(2), disabled_until=later).id,
            "off": service.add_entry(session, "off", "pdq", _pdq(1)).id,
            "tight": service.add_entry(session, "tight", "pdq", _pdq(1)).id,
        }
    matcher = LiveMatcher(database).open()
    status = matcher.status()
    assert status.built_from == "store"
    assert status.entries == 4  # a1, a2, a3 (one video), tight
    assert status.banks == 3
    assert status.seq == sync_seq(database)
    assert status.last_sync > 0
    counts = matcher.entry_counts()
    bank_ids = {b.name: b.id for b in matcher.banks().values()}
    assert counts[(bank_ids["a"], "pdq")] == 1
    assert counts[(bank_ids["a"], "vpdq")] == 1
    assert (bank_ids["off"], "pdq") not in counts
    assert _hits(matcher, _flip(_pdq(1), 6)) == [("a", ids["a1"], 6)]
    assert _hits(matcher, _pdq(1)) == [("a", ids["a1"], 0), ("tight", ids["tight"], 0)]
    assert _hits(matcher, _pdq(2)) == []
    digest = matcher.match([Signal("md5", bytes(16))])
    assert [m.entry_id for m in digest.matches] == [ids["a2"]]
    frames = [Signal("vpdq", _pdq(50 + k), 100, frame=k) for k in range(5)]
    clip = matcher.match(frames)
    assert [(m.entry_id, m.signal_type) for m in clip.matches] == [(ids["a3"], "vpdq")]
    assert clip.matches[0].target_percent == pytest.approx(100.0)


def sync_seq(db: Database) -> int:
    with db.session() as session:
        return sync.latest_change_seq(session)


def test_entry_changes_are_seen_after_sync(database: Database, matcher: LiveMatcher) -> None:
    value = _pdq(10)
    entry = _add(database, "known", value)
    assert _hits(matcher, value) == []  # the matcher works on what it last synced
    assert matcher.sync() == 1
    assert _hits(matcher, value) == [("known", entry, 0)]
    assert matcher.sync() == 0

    with database.session() as session:
        service.disable_entry(session, entry)
    matcher.sync()
    assert _hits(matcher, value) == []

    with database.session() as session:
        service.enable_entry(session, entry)
    matcher.sync()
    assert _hits(matcher, value) == [("known", entry, 0)]

    with database.session() as session:
        service.delete_entry(session, entry)
    matcher.sync()
    assert _hits(matcher, value) == []
    assert matcher.status().entries == 0
    assert matcher.status().seq == sync_seq(database)


def test_video_and_digest_entries_follow_the_feed(database: Database, matcher: LiveMatcher) -> None:
    frames = [_pdq(80 + k) for k in range(4)]
    video = vpdq.pack(vpdq.VpdqFeature(v, 100, k, float(k)) for k, v in enumerate(frames))
    video_entry = _add(database, "known", video, "vpdq")
    digest_entry = _add(database, "known", b"\x05" * 32, "sha256")
    matcher.sync()
    query = [Signal("vpdq", v, 100, frame=k) for k, v in enumerate(frames[:2])]
    clip = matcher.match(query)
    assert [(m.entry_id, m.target_percent) for m in clip.matches] == [(video_entry, 50.0)]
    digest = matcher.match([Signal("sha256", b"\x05" * 32)])
    assert [m.entry_id for m in digest.matches] == [digest_entry]
    with database.session() as session:
        service.delete_entry(session, video_entry)
        service.disable_entry(session, digest_entry)
    matcher.sync()
    assert matcher.match(query).matches == ()
    assert matcher.match([Signal("sha256", b"\x05" * 32)]).matches == ()
    bank_id = next(iter(matcher.banks()))
    assert matcher._indexes.vpdq_frame_count(bank_id, video_entry) == 0
    index = matcher._indexes.get(bank_id, "vpdq")
    assert index is not None
    assert len(index) == 0  # every frame of the deleted video is gone


def test_a_disable_that_ran_out_is_released(database: Database, matcher: LiveMatcher) -> None:
    value = _pdq(11)
    entry = _add(database, "known", value)
    with database.session() as session:
        service.disable_entry(session, entry, datetime.now(UTC) + timedelta(hours=1))
    matcher.sync()
    assert _hits(matcher, value) == []
    # Time passes: the disable is now due (set in the past, as if an hour went by).
    with database.session() as session:
        session.execute(
            update(BankEntry)
            .where(BankEntry.id == entry)
            .values(disabled_until=datetime.now(UTC) - timedelta(seconds=1))
        )
    with database.session() as session:
        assert sync.release_expired_disables(session) == 1
    matcher.sync()
    assert _hits(matcher, value) == [("known", entry, 0)]
    with database.session() as session:
        assert sync.release_expired_disables(session) == 0


def test_bank_disabled_enabled_and_deleted(database: Database, matcher: LiveMatcher) -> None:
    first, second = _pdq(12), _pdq(13)
    entry = _add(database, "known", first)
    matcher.sync()
    with database.session() as session:
        service.update_bank(session, "known", enabled=False)
    matcher.sync()
    assert _hits(matcher, first) == []
    assert not matcher.banks()[next(iter(matcher.banks()))].enabled
    # Added while the bank is off: loaded when it is switched back on.
    later = _add(database, "known", second)
    matcher.sync()
    assert _hits(matcher, second) == []
    with database.session() as session:
        service.update_bank(session, "known", enabled=True)
    matcher.sync()
    assert _hits(matcher, first) == [("known", entry, 0)]
    assert _hits(matcher, second) == [("known", later, 0)]
    # Off and on again between two syncs: still every entry.
    with database.session() as session:
        service.update_bank(session, "known", enabled=False)
    with database.session() as session:
        service.update_bank(session, "known", enabled=True)
    matcher.sync()
    assert _hits(matcher, first) == [("known", entry, 0)]

    with database.session() as session:
        service.delete_bank(session, "known")
    matcher.sync()
    assert _hits(matcher, first) == []
    assert matcher.banks() == {}
    assert matcher.entry_counts() == {}
    # A new bank, even one with the old name, starts empty.
    _create(database, "known")
    fresh = _add(database, "known", second)
    matcher.sync()
    assert _hits(matcher, first) == []
    assert _hits(matcher, second) == [("known", fresh, 0)]


def test_a_bank_created_with_entries_in_one_transaction(database: Database) -> None:
    matcher = LiveMatcher(database).open()
    with database.session() as session:
        service.create_bank(session, "new")
        entry = service.add_entry(session, "new", "pdq", _pdq(14)).id
    assert matcher.sync() == 2
    assert _hits(matcher, _pdq(14)) == [("new", entry, 0)]


def test_a_bulk_import_is_loaded_as_a_whole_bank(database: Database, matcher: LiveMatcher) -> None:
    rng = np.random.default_rng(15)
    values = [
        bytes(row)
        for row in rng.integers(0, 256, (service.BANK_RELOAD_AFTER + 1, 32), dtype=np.uint8)
    ]
    with database.session() as session:
        report = service.add_entries(session, "known", (EntryRecord("pdq", v) for v in values))
    assert report.added == len(values)
    before = sync_seq(database)
    with database.session() as session:
        feed = sync.changes_since(session, before - 1)
    assert [(c.op, c.entry_id) for c in feed] == [("add", None)]  # one whole-bank change
    matcher.sync()
    bank_id = next(iter(matcher.banks()))
    assert matcher.entry_counts()[(bank_id, "pdq")] == len(values)
    for value in (values[0], values[5000], values[-1]):
        hits = _hits(matcher, value)
        assert len(hits) == 1
        assert hits[0][2] == 0
    with database.session() as session:
        assert service.find_entry(session, "known", "pdq", values[-1]).id == hits[0][1]  # type: ignore[union-attr]


def test_a_threshold_change_applies_without_a_reload(
    database: Database, matcher: LiveMatcher
) -> None:
    value = _pdq(16)
    entry = _add(database, "known", value)
    matcher.sync()
    bank_id = next(iter(matcher.banks()))
    index_before = matcher._indexes.get(bank_id, "pdq")
    assert _hits(matcher, _flip(value, 20)) == [("known", entry, 20)]
    with database.session() as session:
        service.update_bank(session, "known", thresholds={"pdq": 10})
    matcher.sync()
    assert _hits(matcher, _flip(value, 20)) == []
    assert _hits(matcher, _flip(value, 10)) == [("known", entry, 10)]
    assert matcher.banks()[bank_id].thresholds == {"pdq": 10}
    assert matcher._indexes.get(bank_id, "pdq") is index_before  # same index: not reloaded


def test_checkpoint_and_reopen_from_the_snapshot(database: Database, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    _create(database, "known")
    kept = _add(database, "known", _pdq(17))
    gone = _add(database, "known", _pdq(18))
    first = LiveMatcher(database, index_dir=index_dir).open()
    assert first.status().built_from == "store"
    assert first.checkpoint() is True
    assert first.checkpoint() is False  # nothing changed since
    assert first.checkpoint(force=True) is True
    # Changes made after the checkpoint.
    added = _add(database, "known", _pdq(19))
    with database.session() as session:
        service.delete_entry(session, gone)
        service.update_bank(session, "known", thresholds={"pdq": 12})

    second = LiveMatcher(database, index_dir=index_dir).open()
    status = second.status()
    assert status.built_from == "snapshot"
    assert status.seq == sync_seq(database)
    assert _hits(second, _pdq(17)) == [("known", kept, 0)]
    assert _hits(second, _pdq(18)) == []
    assert _hits(second, _pdq(19)) == [("known", added, 0)]
    assert _hits(second, _flip(_pdq(17), 13)) == []  # the new threshold
    assert _hits(second, _flip(_pdq(17), 12)) == [("known", kept, 12)]
    # The reopened matcher keeps following the feed, and saves over the old snapshot.
    more = _add(database, "known", _pdq(20))
    second.sync()
    assert _hits(second, _pdq(20)) == [("known", more, 0)]
    assert second.checkpoint() is True
    third = LiveMatcher(database, index_dir=index_dir).open()
    assert third.status().built_from == "snapshot"
    assert third.status().seq == second.status().seq
    assert _hits(third, _pdq(20)) == [("known", more, 0)]
    assert third.entry_counts() == second.entry_counts()


def _checkpointed(database: Database, tmp_path: Path) -> tuple[Path, int]:
    index_dir = tmp_path / "index"
    _create(database, "known")
    entry = _add(database, "known", _pdq(21))
    LiveMatcher(database, index_dir=index_dir).open().checkpoint()
    return index_dir, entry


_DAMAGES = ("truncate", "garbage", "manifest", "version", "missing")


def _damage(index_dir: Path, how: str) -> None:
    index_file = next(p for p in index_dir.iterdir() if p.name.endswith("-pdq"))
    manifest = index_dir / "manifest.json"
    if how == "truncate":
        index_file.write_bytes(index_file.read_bytes()[:100])
    elif how == "garbage":
        index_file.write_bytes(b"\x00" * 5000)
    elif how == "manifest":
        manifest.write_text('{"format": 1, "seq": ')
    elif how == "version":
        manifest.write_text(re.sub(r'"format": \d+', '"format": 99', manifest.read_text()))
    else:
        index_file.unlink()


def test_a_damaged_snapshot_falls_back_to_the_store(database: Database, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    _create(database, "known")
    entries = [_add(database, "known", _pdq(21))]
    LiveMatcher(database, index_dir=index_dir).open().checkpoint()
    for number, how in enumerate(_DAMAGES):
        _damage(index_dir, how)
        entries.append(_add(database, "known", _pdq(22 + number)))
        matcher = LiveMatcher(database, index_dir=index_dir).open()
        assert matcher.status().built_from == "store", how
        for k, entry in enumerate(entries):
            assert _hits(matcher, _pdq(21 + k)) == [("known", entry, 0)], how
        # The next checkpoint repairs the snapshot.
        assert matcher.checkpoint(force=True)
        reopened = LiveMatcher(database, index_dir=index_dir).open()
        assert reopened.status().built_from == "snapshot", how
        assert reopened.entry_counts() == matcher.entry_counts()


def test_a_snapshot_of_another_database_is_not_used(
    database: Database, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Same index folder, another store (a new SQLite file, a restored backup): rebuild."""
    index_dir = tmp_path / "index"
    _create(database, "known")
    for seed in range(30, 40):
        _add(database, "known", _pdq(seed))
    LiveMatcher(database, index_dir=index_dir).open().checkpoint()

    other = open_database(f"sqlite:///{tmp_path_factory.mktemp('other') / 'jaga.db'}")
    try:
        _create(other, "known")  # same bank id, same first entry ids, different content
        entry = _add(other, "known", _pdq(99))
        matcher = LiveMatcher(other, index_dir=index_dir).open()
        assert matcher.status().built_from == "store"
        assert _hits(matcher, _pdq(30)) == []
        assert _hits(matcher, _pdq(99)) == [("known", entry, 0)]
        # The other store catching up to the snapshot's position does not fool it either.
        for seed in range(100, 110):
            _add(other, "known", _pdq(seed))
        assert sync_seq(other) >= sync_seq(database)
        again = LiveMatcher(other, index_dir=index_dir).open()
        assert again.status().built_from == "store"
        assert _hits(again, _pdq(30)) == []
        assert _hits(again, _pdq(109))[0][2] == 0
    finally:
        other.close()


def test_a_pruned_feed_makes_readers_reload(database: Database, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    _create(database, "known")
    first = _add(database, "known", _pdq(40))
    stale = LiveMatcher(database, index_dir=index_dir).open()
    stale.checkpoint()
    second = _add(database, "known", _pdq(41))
    with database.session() as session:
        service.delete_entry(session, first)
    with database.session() as session:
        prune_changes(session, before=datetime.now(UTC) + timedelta(seconds=1))
    # Both the snapshot and the running matcher are behind a feed that no longer holds what
    # they missed: both must reload from the store.
    reopened = LiveMatcher(database, index_dir=index_dir).open()
    assert reopened.status().built_from == "store"
    stale.sync()
    for matcher in (reopened, stale):
        assert _hits(matcher, _pdq(40)) == []
        assert _hits(matcher, _pdq(41)) == [("known", second, 0)]
    # And after newer changes arrive on the pruned feed.
    third = _add(database, "known", _pdq(42))
    stale.sync()
    assert _hits(stale, _pdq(42)) == [("known", third, 0)]
    assert _hits(stale, _pdq(41)) == [("known", second, 0)]


def test_two_processes_converge(database: Database, db_url: str) -> None:
    _create(database, "shared")
    one = LiveMatcher(database).open()
    other_db = open_database(db_url)
    try:
        two = LiveMatcher(other_db).open()
        entry = _add(database, "shared", _pdq(50))  # written by "process one"
        one.sync()
        assert _hits(one, _pdq(50)) == [("shared", entry, 0)]
        two.sync()
        assert _hits(two, _pdq(50)) == [("shared", entry, 0)]
        # And the other way round, with a bank-level change.
        with other_db.session() as session:
            service.update_bank(session, "shared", thresholds={"pdq": 3})
            removed = service.add_entry(session, "shared", "pdq", _pdq(51)).id
            service.delete_entry(session, removed)
        two.sync()
        one.sync()
        for matcher in (one, two):
            assert _hits(matcher, _flip(_pdq(50), 4)) == []
            assert _hits(matcher, _flip(_pdq(50), 3)) == [("shared", entry, 3)]
            assert _hits(matcher, _pdq(51)) == []
        assert one.entry_counts() == two.entry_counts()
        assert one.status().seq == two.status().seq
    finally:
        other_db.close()


def test_queries_during_syncs_from_several_threads(database: Database) -> None:
    _create(database, "stable")
    _create(database, "moving")
    stable_value = _pdq(60)
    stable = _add(database, "stable", stable_value)
    for seed in range(61, 100):
        _add(database, "stable", _pdq(seed))
    matcher = LiveMatcher(database).open()
    moving_values = [_pdq(200 + k) for k in range(4)]
    errors: list[BaseException] = []
    done = threading.Event()
    seen: list[int] = []

    def query() -> None:
        try:
            count = 0
            while not done.is_set() or count < 10:
                outcome: MatchOutcome = matcher.match(_query(stable_value))
                assert [(m.bank_name, m.entry_id, m.distance) for m in outcome.matches] == [
                    ("stable", stable, 0)
                ]
                for value in moving_values:
                    hits = matcher.match(_query(value)).matches
                    assert len(hits) <= 1
                    assert all(m.bank_name == "moving" and m.distance == 0 for m in hits)
                count += 1
            seen.append(count)
        except BaseException as error:  # report in the main thread
            errors.append(error)

    def write() -> None:
        try:
            for round_ in range(2):
                ids = [_add(database, "moving", v) for v in moving_values]
                matcher.sync()
                with database.session() as session:
                    for entry_id in ids[::2]:
                        service.disable_entry(session, entry_id)
                matcher.sync()
                with database.session() as session:
                    service.update_bank(session, "moving", enabled=round_ % 2 == 1)
                matcher.sync()
                with database.session() as session:
                    service.update_bank(session, "moving", enabled=True)
                    for entry_id in ids:
                        service.delete_entry(session, entry_id)
                matcher.sync()
        except BaseException as error:
            errors.append(error)
        finally:
            done.set()

    threads = [threading.Thread(target=query) for _ in range(2)]
    threads.append(threading.Thread(target=write))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert len(seen) == 2
    for value in moving_values:
        assert _hits(matcher, value) == []
    assert _hits(matcher, stable_value) == [("stable", stable, 0)]
    # The final state equals a fresh build (empty indexes aside).
    live = {k: v for k, v in matcher.entry_counts().items() if v}
    assert live == LiveMatcher(database).open().entry_counts()


def test_a_snapshot_of_other_signal_types_is_not_used(database: Database, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    _create(database, "known")
    pdq_entry = _add(database, "known", _pdq(70))
    md5_entry = _add(database, "known", bytes(16), "md5")
    narrow = LiveMatcher(database, index_dir=index_dir, signal_types=("pdq",)).open()
    assert narrow.match([Signal("md5", bytes(16))]).matches == ()
    assert narrow.checkpoint()
    full = LiveMatcher(database, index_dir=index_dir).open()
    assert full.status().built_from == "store"
    assert [m.entry_id for m in full.match([Signal("md5", bytes(16))]).matches] == [md5_entry]
    assert _hits(full, _pdq(70)) == [("known", pdq_entry, 0)]
    # The narrow snapshot suits a narrow matcher; once the full one saves, it no longer does.
    again = LiveMatcher(database, index_dir=index_dir, signal_types=("pdq",)).open()
    assert again.status().built_from == "snapshot"
    assert full.checkpoint()
    again = LiveMatcher(database, index_dir=index_dir, signal_types=("pdq",)).open()
    assert again.status().built_from == "store"
    assert again.match([Signal("md5", bytes(16))]).matches == ()

"""Banks and entries through the service: validation, duplicates, disabling, paging, the feed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jaga.banks import service
from jaga.banks.errors import (
    DuplicateBank,
    InvalidBankName,
    InvalidBankSetting,
    InvalidLabel,
    UnknownBank,
    UnknownEntry,
)
from jaga.errors import InvalidInput, NotFound
from jaga.signals.base import InvalidHash, UnknownSignalType
from jaga.store import Database
from jaga.store.models import FOREVER

PDQ_A = "f" * 64
PDQ_B = "0" * 63 + "1"


def test_create_get_list_update_delete(database: Database) -> None:
    with database.session() as session:
        bank = service.create_bank(session, "Known.1", description="stand-ins")
        service.create_bank(session, "fp-allow", kind="allow")
    with database.session() as session:
        found = service.get_bank(session, "Known.1")
        assert (found.id, found.kind, found.enabled, found.thresholds) == (
            bank.id,
            "known",
            True,
            {},
        )
        assert service.get_bank(session, bank.id).name == "Known.1"
        assert [b.name for b in service.list_banks(session)] == ["Known.1", "fp-allow"]
        assert service.bank_threshold(found, "pdq") == 31  # PDQ default when unset
        service.update_bank(session, "Known.1", thresholds={"pdq": 20}, enabled=False)
    with database.session() as session:
        found = service.get_bank(session, "Known.1")
        assert found.thresholds == {"pdq": 20}
        assert found.enabled is False
        assert service.bank_threshold(found, "PDQ") == 20
        assert found.created_at.tzinfo is not None
        assert found.updated_at >= found.created_at
        service.add_entry(session, found, "pdq", PDQ_A)
        assert service.delete_bank(session, "Known.1") == 1
    with database.session() as session:
        assert [b.name for b in service.list_banks(session)] == ["fp-allow"]


@pytest.mark.parametrize(
    "name", ["", "-starts-with-dash", "has space", "x" * 65, "slash/name", "ümlaut", ".hidden"]
)
def test_invalid_bank_names(database: Database, name: str) -> None:
    with pytest.raises(InvalidBankName), database.session() as session:
        service.create_bank(session, name)


def test_duplicate_bank_ignores_case(database: Database) -> None:
    with database.session() as session:
        service.create_bank(session, "Stand_Ins")
    with pytest.raises(DuplicateBank, match="Stand_Ins"), database.session() as session:
        service.create_bank(session, "stand_ins")


def test_unknown_bank_names_similar_ones(database: Database) -> None:
    with database.session() as session:
        service.create_bank(session, "csam-stand-ins")
        service.create_bank(session, "other")
    with database.session() as session:
        with pytest.raises(UnknownBank, match="did you mean 'csam-stand-ins'") as caught:
            service.get_bank(session, "csam-stand-in")
        assert isinstance(caught.value, NotFound)
        with pytest.raises(UnknownBank, match="no bank named 'zzz'"):
            service.get_bank(session, "zzz")
        with pytest.raises(UnknownBank, match="no bank with id 999"):
            service.get_bank(session, 999)
        with pytest.raises(UnknownBank):
            service.add_entry(session, "nope", "pdq", PDQ_A)


@pytest.mark.parametrize(
    ("kind", "thresholds"),
    [
        ("maybe", {}),
        ("known", {"pdq": 257}),
        ("known", {"pdq": -1}),
        ("known", {"md5": 3}),
        ("known", {"pdq": "31"}),
        ("known", {"pdq": True}),
    ],
)
def test_invalid_bank_settings(database: Database, kind: str, thresholds: dict[str, int]) -> None:
    with pytest.raises(InvalidBankSetting), database.session() as session:
        service.create_bank(session, "b", kind=kind, thresholds=thresholds)


def test_threshold_for_unknown_signal_type(database: Database) -> None:
    with pytest.raises(UnknownSignalType), database.session() as session:
        service.create_bank(session, "b", thresholds={"photodna": 3})


def test_add_entry_validates_and_skips_duplicates(database: Database) -> None:
    with database.session() as session:
        service.create_bank(session, "b")
        first = service.add_entry(
            session, "b", "pdq", PDQ_A, labels=["B2", "A1", "A1"], source="r1"
        )
        again = service.add_entry(session, "b", "PDQ", bytes.fromhex(PDQ_A), source="r2")
        other = service.add_entry(session, "b", "md5", "AB" * 16, labels="A2, B1")
        assert (first.created, again.created, other.created) == (True, False, True)
        assert again.id == first.id
        assert other.id != first.id
    with database.session() as session:
        entry = service.get_entry(session, first.id, bank="b")
        assert (entry.labels, entry.source, entry.value) == ("A1 B2", "r1", bytes.fromhex(PDQ_A))
        assert service.get_entry(session, other.id).labels == "A2 B1"
        assert service.entry_counts(session, "b") == {"pdq": 1, "md5": 1}
        assert service.find_entry(session, "b", "md5", "ab" * 16) is not None
        assert service.find_entry(session, "b", "md5", "cd" * 16) is None


@pytest.mark.parametrize(
    ("signal_type", "value", "error"),
    [
        ("pdq", "f" * 63 + "g", InvalidHash),  # not hex
        ("pdq", "f" * 62, InvalidHash),  # too short
        ("pdq", b"\x00" * 31, InvalidHash),  # wrong length in bytes
        ("md5", "ab" * 17, InvalidHash),
        ("photodna", "ab" * 16, UnknownSignalType),
    ],
)
def test_bad_hashes_are_typed_errors(
    database: Database, signal_type: str, value: str | bytes, error: type[Exception]
) -> None:
    with database.session() as session:
        service.create_bank(session, "b")
    with pytest.raises(error), database.session() as session:
        service.add_entry(session, "b", signal_type, value)
    with database.session() as session:
        assert service.entry_counts(session, "b") == {}


@pytest.mark.parametrize("labels", [["has space"], ["a,b"], [""], ["x" * 65]])
def test_invalid_labels(database: Database, labels: list[str]) -> None:
    with database.session() as session:
        service.create_bank(session, "b")
    with pytest.raises(InvalidLabel), database.session() as session:
        service.add_entry(session, "b", "pdq", PDQ_A, labels=labels)


def test_disable_enable_delete_entry(database: Database) -> None:
    now = datetime.now(UTC)
    with database.session() as session:
        service.create_bank(session, "b")
        entry_id = service.add_entry(session, "b", "pdq", PDQ_A).id
        assert service.get_entry(session, entry_id).is_active()
        service.disable_entry(session, entry_id, now + timedelta(days=1))
    with database.session() as session:
        entry = service.get_entry(session, entry_id)
        assert not entry.is_active()
        assert entry.is_active(now + timedelta(days=2))
        service.disable_entry(session, entry_id)
        assert service.get_entry(session, entry_id).disabled_until == FOREVER
        with pytest.raises(InvalidInput, match="not in the future"):
            service.disable_entry(session, entry_id, now - timedelta(seconds=1))
        service.enable_entry(session, entry_id)
        assert service.get_entry(session, entry_id).disabled_until is None
        service.delete_entry(session, entry_id, bank="b")
        with pytest.raises(UnknownEntry):
            service.get_entry(session, entry_id)


def test_entry_of_another_bank_is_unknown(database: Database) -> None:
    with database.session() as session:
        service.create_bank(session, "a")
        service.create_bank(session, "b")
        entry_id = service.add_entry(session, "a", "pdq", PDQ_A).id
        with pytest.raises(UnknownEntry, match="in bank 'b'"):
            service.disable_entry(session, entry_id, bank="b")


def test_keyset_paging(database: Database) -> None:
    with database.session() as session:
        service.create_bank(session, "b")
        ids = [service.add_entry(session, "b", "md5", f"{i:032x}").id for i in range(7)]
        service.add_entry(session, "b", "pdq", PDQ_A)
    with database.session() as session:
        seen: list[int] = []
        after = None
        while True:
            page = service.page_entries(session, "b", signal_type="md5", after=after, limit=3)
            seen.extend(e.id for e in page.entries)
            if page.next_after is None:
                break
            after = page.next_after
        assert seen == ids
        newest = service.page_entries(session, "b", limit=2, newest_first=True)
        assert [e.signal_type for e in newest.entries] == ["pdq", "md5"]
        with pytest.raises(InvalidInput):
            service.page_entries(session, "b", limit=0)


def test_changes_feed_records_what_affects_matching(database: Database) -> None:
    with database.session() as session:
        start = service.latest_change_seq(session)
        bank = service.create_bank(session, "b")
        entry_id = service.add_entry(session, "b", "pdq", PDQ_A).id
        service.add_entry(session, "b", "pdq", PDQ_A)  # duplicate: no change
        service.update_bank(session, "b", description="only words")  # no change
        service.update_bank(session, "b", enabled=False)
        service.disable_entry(session, entry_id)
        service.enable_entry(session, entry_id)
        service.delete_entry(session, entry_id)
        service.delete_bank(session, "b")
    with database.session() as session:
        changes = service.changes_since(session, start)
    assert [(c.op, c.entry_id) for c in changes] == [
        ("add", None),
        ("add", entry_id),
        ("update", None),
        ("update", entry_id),
        ("update", entry_id),
        ("remove", entry_id),
        ("remove", None),
    ]
    assert all(c.bank_id == bank.id for c in changes)
    assert [c.signal_type for c in changes if c.entry_id] == ["pdq"] * 4
    seqs = [c.seq for c in changes]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)
    with database.session() as session:
        assert service.changes_since(session, seqs[3]) == changes[4:]
        assert service.changes_since(session, start, limit=2) == changes[:2]


def test_failed_transaction_leaves_no_change_rows(database: Database) -> None:
    with database.session() as session:
        service.create_bank(session, "b")
        start = service.latest_change_seq(session)

    def add_good_then_bad() -> None:
        with database.session() as session:
            service.add_entry(session, "b", "pdq", PDQ_A)
            service.add_entry(session, "b", "pdq", "bad")

    with pytest.raises(InvalidHash):
        add_good_then_bad()
    with database.session() as session:
        assert service.changes_since(session, start) == []
        assert service.entry_counts(session, "b") == {}

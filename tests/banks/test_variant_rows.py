"""Variant rows of bank entries through the service: added, listed apart, disabled, enabled and
deleted with their entry, on the change feed, never exported. SQLite and PostgreSQL."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from jaga.banks import importer, service
from jaga.banks.errors import InvalidEntry
from jaga.banks.records import EntryRecord
from jaga.signals.base import InvalidHash
from jaga.store import Database
from jaga.store.models import FOREVER, BankEntry

PLAIN = bytes.fromhex("f0" * 32)
CROP4 = bytes.fromhex("0f" * 32)
CROP8 = bytes.fromhex("33" * 32)
SQUARE = bytes.fromhex("cc" * 32)
OTHER = bytes.fromhex("55" * 32)
VARIANTS = [("crop:4", CROP4), ("crop:8", CROP8), ("square", SQUARE)]


def _rows(db: Database, bank: str = "b") -> list[BankEntry]:
    with db.session() as session:
        bank_id = service.get_bank(session, bank).id
        stmt = select(BankEntry).where(BankEntry.bank_id == bank_id).order_by(BankEntry.id)
        rows = list(session.scalars(stmt))
        session.expunge_all()
        return rows


def _feed(db: Database, since: int) -> list[tuple[str, int | None]]:
    with db.session() as session:
        return [(c.op, c.entry_id) for c in service.changes_since(session, since)]


def _seq(db: Database) -> int:
    with db.session() as session:
        return service.latest_change_seq(session)


@pytest.fixture
def entry(database: Database) -> int:
    """Bank ``b`` with one entry (labels, source, external id) and three variant rows."""
    with database.session() as session:
        service.create_bank(session, "b")
        added = service.add_entry(
            session,
            "b",
            "pdq",
            PLAIN,
            labels="A1 B2",
            source="reviewer",
            external_id="case-7",
            variants=VARIANTS,
        )
    assert (added.created, added.variants) == (True, 3)
    return added.id


def test_variant_rows_copy_their_entry_and_are_listed_apart(database: Database, entry: int) -> None:
    rows = _rows(database)
    assert [(r.variant, r.parent_id, r.value) for r in rows] == [
        ("", None, PLAIN),
        ("crop:4", entry, CROP4),
        ("crop:8", entry, CROP8),
        ("square", entry, SQUARE),
    ]
    assert {(r.labels, r.source, r.external_id) for r in rows} == {("A1 B2", "reviewer", "case-7")}
    assert [r.is_variant for r in rows] == [False, True, True, True]
    with database.session() as session:
        assert service.entry_counts(session, "b") == {"pdq": 1}
        assert service.entry_counts(session, "b", variants=True) == {"pdq": 3}
        assert [e.id for e in service.page_entries(session, "b").entries] == [entry]
        every = service.page_entries(session, "b", include_variants=True).entries
        assert len(every) == 4
        assert [v.variant for v in service.entry_variants(session, entry)] == [
            "crop:4",
            "crop:8",
            "square",
        ]
        assert service.delete_bank(session, "b") == 1  # entries, not rows


def test_duplicate_variant_hashes_are_skipped(database: Database, entry: int) -> None:
    with database.session() as session:
        other = service.add_entry(session, "b", "pdq", OTHER).id
        seq = service.latest_change_seq(session)
        ids = service.add_variants(
            session,
            other,
            [
                ("trim", PLAIN),  # another entry's own hash
                ("crop:4", CROP8),  # another entry's variant
                ("crop:8", OTHER),  # its own hash
                ("crop:12", bytes(32)),  # new
                ("crop:16", bytes(32)),  # new, but given twice
            ],
        )
        assert len(ids) == 1
        # Adding the same media again: nothing new.
        again = service.add_entry(session, "b", "pdq", PLAIN, variants=VARIANTS)
        assert (again.id, again.created, again.variants) == (entry, False, 0)
    assert _feed(database, seq) == [("add", ids[0])]


def test_an_older_entry_gets_its_variants_when_its_media_is_added_again(
    database: Database,
) -> None:
    with database.session() as session:
        service.create_bank(session, "b")
        first = service.add_entry(session, "b", "pdq", PLAIN)
        later = service.add_entry(session, "b", "pdq", PLAIN, variants=VARIANTS)
    assert (later.id, later.created, later.variants) == (first.id, False, 3)


@pytest.mark.parametrize(
    "name", ["", "Crop", "crop:", "crop:12345", "has space", "x" * 33, "crop:4:4", "-trim"]
)
def test_bad_variant_names_are_refused(database: Database, entry: int, name: str) -> None:
    with pytest.raises(InvalidEntry, match="invalid variant name"), database.session() as session:
        service.add_variants(session, entry, [(name, OTHER)])
    assert len(_rows(database)) == 4


def test_a_variant_row_has_no_variants_and_values_are_checked(
    database: Database, entry: int
) -> None:
    variant = _rows(database)[1].id
    refused = pytest.raises(InvalidEntry, match=f"variant of entry {entry}")
    with refused, database.session() as session:
        service.add_variants(session, variant, [("trim", OTHER)])
    with pytest.raises(InvalidHash, match="64 hex digits"), database.session() as session:
        service.add_variants(session, entry, [("trim", "abc")])
    assert len(_rows(database)) == 4


def test_disable_and_enable_carry_the_variant_rows(database: Database, entry: int) -> None:
    seq = _seq(database)
    until = datetime.now(UTC) + timedelta(days=2)
    with database.session() as session:
        service.disable_entry(session, entry, until)
    rows = _rows(database)
    assert {r.disabled_until for r in rows} == {until.replace(microsecond=until.microsecond)}
    ids = [r.id for r in rows]
    assert sorted(e for op, e in _feed(database, seq) if op == "update") == ids
    seq = _seq(database)
    with database.session() as session:
        service.disable_entry(session, entry)  # for good
        service.enable_entry(session, entry)
    assert {r.disabled_until for r in _rows(database)} == {None}
    assert len(_feed(database, seq)) == 8  # every row, twice
    # A variant row alone: the entry and the others stay on.
    seq = _seq(database)
    with database.session() as session:
        service.disable_entry(session, ids[2])
    assert [r.disabled_until for r in _rows(database)] == [None, None, FOREVER, None]
    assert _feed(database, seq) == [("update", ids[2])]
    # Disabling again changes nothing and writes nothing.
    seq = _seq(database)
    with database.session() as session:
        service.disable_entry(session, ids[2])
    assert _feed(database, seq) == []


def test_expired_disables_release_the_variant_rows_too(database: Database, entry: int) -> None:
    soon = datetime.now(UTC) + timedelta(seconds=1)
    with database.session() as session:
        service.disable_entry(session, entry, soon)
    with database.session() as session:
        released = service.release_expired_disables(session, now=soon + timedelta(seconds=1))
    assert released == 4
    assert {r.disabled_until for r in _rows(database)} == {None}


def test_deleting_an_entry_deletes_its_variant_rows(database: Database, entry: int) -> None:
    ids = [r.id for r in _rows(database)]
    seq = _seq(database)
    with database.session() as session:
        service.delete_entry(session, entry)
    assert _rows(database) == []
    assert sorted(e for op, e in _feed(database, seq) if op == "remove") == ids


def test_deleting_a_variant_row_leaves_its_entry(database: Database, entry: int) -> None:
    ids = [r.id for r in _rows(database)]
    with database.session() as session:
        service.delete_entry(session, ids[1])
    assert [r.id for r in _rows(database)] == [ids[0], ids[2], ids[3]]


@pytest.mark.parametrize("by", ["value", "external_id"])
def test_withdrawals_in_an_import_remove_the_variant_rows(
    database: Database, entry: int, by: str
) -> None:
    ids = [r.id for r in _rows(database)]
    seq = _seq(database)
    record = (
        EntryRecord("pdq", PLAIN, deleted=True)
        if by == "value"
        else EntryRecord("pdq", b"", external_id="case-7", deleted=True)
    )
    with database.session() as session:
        report = service.apply_records(session, "b", [record])
    assert report.removed == 4
    assert _rows(database) == []
    assert sorted(e for op, e in _feed(database, seq) if op == "remove") == ids


def test_exports_leave_variant_rows_out(database: Database, entry: int) -> None:
    out = io.BytesIO()
    with database.session() as session:
        service.add_entry(session, "b", "md5", bytes(16))
        assert importer.export_bank(session, "b", out, "csv") == 2
        records = list(importer.iter_bank_records(session, "b"))
    assert sorted((r.signal_type, r.value) for r in records) == [("md5", bytes(16)), ("pdq", PLAIN)]
    text = out.getvalue().decode()
    assert PLAIN.hex() in text
    assert all(v.hex() not in text for _, v in VARIANTS)


def test_adding_a_variant_hash_as_an_entry_makes_it_one(database: Database, entry: int) -> None:
    seq = _seq(database)
    with database.session() as session:
        added = service.add_entry(session, "b", "pdq", CROP8, labels="C1", external_id="new")
    row = next(r for r in _rows(database) if r.value == CROP8)
    assert (added.id, added.created) == (row.id, True)
    assert (row.parent_id, row.variant, row.labels, row.external_id) == (None, "", "C1", "new")
    assert _feed(database, seq) == [("update", row.id)]
    with database.session() as session:
        assert service.entry_counts(session, "b") == {"pdq": 2}
        assert [v.variant for v in service.entry_variants(session, entry)] == ["crop:4", "square"]

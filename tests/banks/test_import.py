"""Importing files into banks (all or nothing) and exporting banks, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from jaga.banks import importer, service
from jaga.banks.errors import UnknownBank
from jaga.banks.formats import FormatError, UnknownFormat
from jaga.banks.records import EntryRecord
from jaga.errors import InvalidInput, NotFound
from jaga.signals import vpdq
from jaga.store import Database


def _pdq(i: int) -> str:
    return f"{i:064x}"


def _csv(rows: list[str], header: str = "type,hash,labels") -> io.StringIO:
    return io.StringIO(header + "\n" + "\n".join(rows) + "\n")


def _counts(database: Database, bank: str) -> dict[str, int]:
    with database.session() as session:
        return service.entry_counts(session, bank)


def test_csv_import_counts_duplicates(database: Database) -> None:
    with database.session() as session:
        service.create_bank(session, "b")
        service.add_entry(session, "b", "pdq", _pdq(1))
    rows = [f"pdq,{_pdq(i)},A1" for i in range(10)] + [f"pdq,{_pdq(3)},B2", f"md5,{'ab' * 16},"]
    with database.session() as session:
        report = importer.import_file(session, "b", _csv(rows), "csv", chunk=4)
    assert (report.added, report.duplicates, report.removed, report.records) == (10, 2, 0, 12)
    assert (report.source, report.format) == ("csv", "csv")
    assert _counts(database, "b") == {"pdq": 10, "md5": 1}
    with database.session() as session:
        entry = service.find_entry(session, "b", "pdq", _pdq(5))
        assert entry is not None
        assert (entry.labels, entry.source) == ("A1", "csv")
        # Every new entry is on the change feed exactly once.
        added = [
            c.entry_id for c in service.changes_since(session, 0) if c.op == "add" and c.entry_id
        ]
        assert len(added) == len(set(added)) == 11


@pytest.mark.parametrize("bad_row", [f"pdq,{_pdq(7)[:-1]}x,A1", "pdq", f"sha3,{_pdq(7)},A1"])
def test_broken_row_in_the_middle_commits_nothing(database: Database, bad_row: str) -> None:
    with database.session() as session:
        service.create_bank(session, "b")
        seq = service.latest_change_seq(session)
    rows = [f"pdq,{_pdq(i)},A1" for i in range(50)]
    rows.insert(25, bad_row)
    with database.session() as session:
        with pytest.raises(FormatError, match="csv line 27") as caught:
            importer.import_file(session, "b", _csv(rows), "csv", chunk=10)
        assert caught.value.line == 27
        # The caller's transaction is still usable, and keeps only its own work.
        service.add_entry(session, "b", "md5", "cd" * 16)
    assert _counts(database, "b") == {"md5": 1}
    with database.session() as session:
        assert [c.signal_type for c in service.changes_since(session, seq)] == ["md5"]


def test_bad_label_in_the_middle_names_its_line(database: Database) -> None:
    with database.session() as session:
        service.create_bank(session, "b")
    rows = [f"pdq,{_pdq(i)},A1" for i in range(5)] + [f'pdq,{_pdq(9)},"{"x" * 80}"']
    with pytest.raises(InvalidInput, match="line 7: invalid label"), database.session() as session:
        importer.import_file(session, "b", _csv(rows), "csv", chunk=2)
    assert _counts(database, "b") == {}


def test_import_into_unknown_bank(database: Database) -> None:
    with database.session() as session:
        service.create_bank(session, "known-stand-ins")
    with pytest.raises(UnknownBank, match="did you mean"), database.session() as session:
        importer.import_file(session, "known_stand_ins", _csv([]), "csv")


NCMEC_ADD = """<?xml version="1.0" encoding="UTF-8"?>
<queryResult xmlns="https://hashsharing.ncmec.org/hashsharing/v2"><images>
<image><member id="42">M</member><timestamp>2020-01-01T00:00:00Z</timestamp><id>e1</id>
<classification>A1</classification><fingerprints><md5>{md5}</md5><sha1>{sha1}</sha1>
<pdq>{pdq}</pdq><pdna>00ff</pdna></fingerprints></image>
<image><member id="42">M</member><id>e2</id><fingerprints><md5>{md5b}</md5></fingerprints></image>
</images></queryResult>
""".format(md5="11" * 16, sha1="22" * 20, pdq="33" * 32, md5b="44" * 16)

NCMEC_DELETE = """<?xml version="1.0" encoding="UTF-8"?>
<queryResult xmlns="https://hashsharing.ncmec.org/hashsharing/v2"><images>
<deletedImage><member id="42">M</member><id>e1</id></deletedImage>
</images></queryResult>
"""


def test_ncmec_import_then_deletions(database: Database) -> None:
    with database.session() as session:
        service.create_bank(session, "ncmec")
        report = importer.import_file(session, "ncmec", io.BytesIO(NCMEC_ADD.encode()), "ncmec")
    assert (report.added, report.skipped) == (4, {"pdna fingerprint": 1})
    assert _counts(database, "ncmec") == {"md5": 2, "sha1": 1, "pdq": 1}
    with database.session() as session:
        entry = service.find_entry(session, "ncmec", "sha1", "22" * 20)
        assert entry is not None
        assert (entry.external_id, entry.labels, entry.source) == ("42-e1", "A1", "ncmec")
        seq = service.latest_change_seq(session)
        report = importer.import_file(session, "ncmec", io.BytesIO(NCMEC_DELETE.encode()), "ncmec")
    assert report.removed == 3
    assert _counts(database, "ncmec") == {"md5": 1}
    with database.session() as session:
        removed = service.changes_since(session, seq)
        assert sorted(c.signal_type or "" for c in removed) == ["md5", "pdq", "sha1"]
        assert {c.op for c in removed} == {"remove"}


def test_xml_with_external_entity_imports_nothing(database: Database, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("11" * 16)
    attack = NCMEC_ADD.replace(
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<?xml version="1.0"?><!DOCTYPE q [<!ENTITY x SYSTEM "file://{secret}">]>',
    ).replace("<md5>" + "44" * 16, "<md5>&x;")
    with database.session() as session:
        service.create_bank(session, "b")
    with pytest.raises(FormatError, match="DOCTYPE"), database.session() as session:
        importer.import_file(session, "b", io.BytesIO(attack.encode()), "ncmec")
    assert _counts(database, "b") == {}


def test_truncated_xml_imports_nothing(database: Database) -> None:
    with database.session() as session:
        service.create_bank(session, "b")
    cut = NCMEC_ADD[: NCMEC_ADD.index("<image><member") + 200]
    with pytest.raises(FormatError, match="ncmec line"), database.session() as session:
        importer.import_file(session, "b", io.BytesIO(cut.encode()), "ncmec")
    assert _counts(database, "b") == {}


def test_stopncii_withdrawal_removes_and_wrong_shape_imports_nothing(database: Database) -> None:
    pdq = "5a" * 32
    add = {"hashRecords": [{"signalType": "ImagePDQ", "hashValue": pdq, "hashStatus": "Active"}]}
    withdraw = {"signalType": "ImagePDQ", "hashValue": pdq, "hashStatus": "Withdrawn"}
    with database.session() as session:
        service.create_bank(session, "ncii")
        assert (
            importer.import_file(session, "ncii", io.StringIO(json.dumps(add)), "stopncii").added
            == 1
        )
        report = importer.import_file(
            session, "ncii", io.StringIO(json.dumps(withdraw)), "stopncii"
        )
        assert report.removed == 1
    assert _counts(database, "ncii") == {}
    wrong = json.dumps(
        {"hashRecords": [{"signalType": "ImagePDQ", "hashValue": "5a" * 32}, {"x": 1}]}
    )
    with pytest.raises(FormatError, match="record 2"), database.session() as session:
        importer.import_file(session, "ncii", io.StringIO(wrong), "stopncii")
    assert _counts(database, "ncii") == {}


def _sample_records() -> list[EntryRecord]:
    video = vpdq.pack([vpdq.VpdqFeature(b"\x09" * 32, 90, k, k * 0.5) for k in range(3)])
    return [
        EntryRecord("pdq", bytes.fromhex(_pdq(1)), labels=("A1",), external_id="7"),
        EntryRecord("md5", b"\x01" * 16, labels=("B2",), external_id="7"),
        EntryRecord("sha1", b"\x02" * 20, external_id="8"),
        EntryRecord("sha256", b"\x03" * 32),
        EntryRecord("vpdq", video, labels=("A2",)),
    ]


@pytest.mark.parametrize(
    ("fmt", "types", "options"),
    [
        ("csv", {"pdq", "md5", "sha1", "sha256", "vpdq"}, {}),
        ("tsv", {"pdq", "md5", "sha1", "sha256", "vpdq"}, {}),
        ("threatexchange", {"pdq", "md5", "sha1", "sha256", "vpdq"}, {"shape": "hma"}),
        ("threatexchange", {"pdq", "md5", "sha1", "sha256"}, {"shape": "descriptors"}),
        ("ncmec", {"pdq", "md5", "sha1"}, {}),
        ("stopncii", {"pdq", "md5"}, {}),
    ],
)
def test_export_then_import_gives_the_same_hashes(
    database: Database, tmp_path: Path, fmt: str, types: set[str], options: dict[str, str]
) -> None:
    records = [r for r in _sample_records() if r.signal_type in types]
    with database.session() as session:
        service.create_bank(session, "source")
        service.create_bank(session, "copy")
        service.apply_records(session, "source", records)
        path = tmp_path / f"bank.{fmt}"
        assert importer.export_bank(session, "source", path, fmt, **options) == len(records)
        report = importer.import_file(session, "copy", path, fmt)
        assert report.added == len(records)
        copied = {(r.signal_type, r.value) for r in importer.iter_bank_records(session, "copy")}
    assert copied == {(r.signal_type, r.value) for r in records}


def test_import_by_path_guesses_format_and_names_source(database: Database, tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text(f"hash\n{_pdq(1)}\n")
    with database.session() as session:
        service.create_bank(session, "b")
        report = importer.import_file(session, "b", path, signal_type="pdq")
        assert (report.added, report.source) == (1, "list.csv")
        with pytest.raises(UnknownFormat):
            importer.import_file(session, "b", tmp_path / "list.json")
        with pytest.raises(NotFound):
            importer.import_file(session, "b", tmp_path / "missing.csv")
        with pytest.raises(InvalidInput, match="takes no option delimiter"):
            importer.import_file(session, "b", path, "ncmec", delimiter=";")


def test_export_skips_disabled_when_asked(database: Database) -> None:
    with database.session() as session:
        service.create_bank(session, "b")
        service.add_entry(session, "b", "pdq", _pdq(1))
        hidden = service.add_entry(session, "b", "pdq", _pdq(2)).id
        service.disable_entry(session, hidden)
        everything = list(importer.iter_bank_records(session, "b"))
        active = list(importer.iter_bank_records(session, "b", include_disabled=False))
    assert len(everything) == 2
    assert everything[1].disabled_until is not None
    assert [r.value.hex() for r in active] == [_pdq(1)]


def test_big_import_is_one_bank_change_on_the_feed(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "BANK_RELOAD_AFTER", 5)
    with database.session() as session:
        bank = service.create_bank(session, "b")
        seq = service.latest_change_seq(session)
        importer.import_file(session, "b", _csv([f"pdq,{_pdq(i)}," for i in range(6)]), "csv")
        small = service.latest_change_seq(session)
        importer.import_file(session, "b", _csv([f"pdq,{_pdq(i)}," for i in range(6, 9)]), "csv")
    with database.session() as session:
        big_import = service.changes_since(session, seq, limit=100)
    assert [(c.op, c.entry_id, c.bank_id) for c in big_import[:1]] == [("add", None, bank.id)]
    assert big_import[0].seq == small
    assert [c.op for c in big_import[1:]] == ["add"] * 3

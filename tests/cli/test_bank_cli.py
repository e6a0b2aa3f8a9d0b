"""``jaga bank ...``: every sub-command, its effect on the store, its audit record, its errors."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from sqlalchemy import func, select
from typer.testing import CliRunner

from jaga.banks import service
from jaga.cli import app
from jaga.store import Database
from jaga.store.models import FOREVER, AuditEvent, Bank, BankEntry

runner = CliRunner()
PDQ_A = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
PDQ_B = "0" * 63 + "1"
MD5_EMPTY = "d41d8cd98f00b204e9800998ecf8427e"


def _run(*args: str, input: str | None = None) -> Result:
    return runner.invoke(app, list(args), input=input)


def _ok(*args: str, input: str | None = None) -> Result:
    result = _run(*args, input=input)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def _one_line_error(result: Result, *needles: str) -> str:
    """Exit 1, one short line on stderr naming the problem, no traceback."""
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert isinstance(result.exception, SystemExit)
    message = result.stderr.strip()
    # One message. (jaga.commands.common.fail lets rich wrap it at 80 columns when stderr is
    # not a terminal, so only a short one is one physical line here.)
    if len(message) <= 80:
        assert "\n" not in message
    text = message.replace("\n", "")
    assert text.startswith("error: ")
    assert text.count("error:") == 1
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in text, text
    return text


def _entries(db: Database, bank: str, *, variant_rows: bool = False) -> list[BankEntry]:
    """The bank's entries (or, with ``variant_rows``, its variant rows) in id order."""
    kind = BankEntry.parent_id.is_not(None) if variant_rows else BankEntry.parent_id.is_(None)
    with db.session() as session:
        bank_id = service.get_bank(session, bank).id
        return list(
            session.scalars(
                select(BankEntry).where(BankEntry.bank_id == bank_id, kind).order_by("id")
            )
        )


def _audit(db: Database) -> list[tuple[str, str]]:
    with db.session() as session:
        rows = session.execute(select(AuditEvent.action, AuditEvent.target).order_by("seq"))
        return [(row.action, row.target) for row in rows]


def test_create_list_update_delete(home: Path, store: Database) -> None:
    created = _ok(
        "bank", "create", "stand-ins", "--threshold", "pdq=20", "--description", "demo list"
    )
    assert "created bank 'stand-ins' (known)" in created.stdout
    _ok("bank", "create", "fp", "--kind", "allow", "--disabled", "--description", "[/x] [b]y")
    listing = _ok("bank", "list").stdout
    assert "[/x] [b]y" in listing  # descriptions are text, not markup
    assert "stand-ins" in listing
    assert "pdq=20" in listing
    assert "demo list" in listing
    assert "allow" in listing
    with store.session() as session:
        bank = service.get_bank(session, "stand-ins")
        assert (bank.kind, bank.thresholds, bank.enabled) == ("known", {"pdq": 20}, True)
        assert service.get_bank(session, "fp").enabled is False

    _ok("bank", "update", "stand-ins", "--threshold", "pdq=10", "--threshold", "vpdq=12")
    _ok("bank", "update", "stand-ins", "--disable", "--description", "changed")
    with store.session() as session:
        bank = service.get_bank(session, "stand-ins")
        assert bank.thresholds == {"pdq": 10, "vpdq": 12}
        assert (bank.enabled, bank.description) == (False, "changed")
    _ok("bank", "update", "stand-ins", "--enable")
    with store.session() as session:
        assert service.get_bank(session, "stand-ins").enabled is True

    _ok("bank", "add", "stand-ins", "--hash", PDQ_A)
    declined = _run("bank", "delete", "stand-ins", input="n\n")
    assert declined.exit_code == 1
    with store.session() as session:
        assert service.get_bank(session, "stand-ins") is not None
    deleted = _ok("bank", "delete", "stand-ins", "--yes")
    assert "deleted bank 'stand-ins' and 1 entries" in deleted.stdout
    _ok("bank", "delete", "fp", input="y\n")
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(Bank)) == 0
        assert session.scalar(select(func.count()).select_from(BankEntry)) == 0
    assert _audit(store) == [
        ("bank.create", "bank:stand-ins"),
        ("bank.create", "bank:fp"),
        ("bank.update", "bank:stand-ins"),
        ("bank.update", "bank:stand-ins"),
        ("bank.update", "bank:stand-ins"),
        ("bank.add", "bank:stand-ins"),
        ("bank.delete", "bank:stand-ins"),
        ("bank.delete", "bank:fp"),
    ]


def test_bad_bank_settings(home: Path, store: Database) -> None:
    _ok("bank", "create", "one")
    _one_line_error(_run("bank", "create", "ONE"), "exists already")
    _one_line_error(_run("bank", "create", "bad name!"), "invalid bank name")
    _one_line_error(_run("bank", "create", "two", "--kind", "maybe"), "kind")
    _one_line_error(_run("bank", "create", "two", "--threshold", "pdq=300"), "between 0 and 256")
    _one_line_error(_run("bank", "create", "two", "--threshold", "nope=3"), "nope")
    usage = _run("bank", "create", "two", "--threshold", "pdq")
    assert usage.exit_code == 2
    assert "TYPE=DISTANCE" in usage.stderr
    _one_line_error(_run("bank", "update", "one", "--threshold", "md5=1"), "md5")
    with store.session() as session:
        assert [b.name for b in service.list_banks(session)] == ["one"]
        assert service.get_bank(session, "one").thresholds == {}
    # Only what succeeded is in the audit log.
    assert _audit(store) == [("bank.create", "bank:one")]


@pytest.mark.parametrize(
    "args",
    [
        ["update", "nope", "--disable"],
        ["delete", "nope", "--yes"],
        ["add", "nope", "--hash", PDQ_A],
        ["import", "nope", "LIST"],
        ["export", "nope"],
        ["disable", "nope", "1"],
        ["enable", "nope", "1"],
    ],
)
def test_unknown_bank(home: Path, store: Database, tmp_path: Path, args: list[str]) -> None:
    _ok("bank", "create", "nopf")
    listing = tmp_path / "list.csv"
    listing.write_text(f"signal_type,hash\npdq,{PDQ_A}\n")
    args = [str(listing) if a == "LIST" else a for a in args]
    _one_line_error(_run("bank", *args), "no bank named 'nope'", "did you mean 'nopf'")
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(BankEntry)) == 0


def test_add_files(home: Path, store: Database, tmp_path: Path, pictures: Any) -> None:
    _ok("bank", "create", "b")
    one = pictures.write(tmp_path / "media" / "one.jpg", 1)
    two = pictures.write(tmp_path / "media" / "sub" / "two.jpg", 2)
    added = _ok("bank", "add", "b", str(tmp_path / "media"), "--labels", "A1", "--source", "ana")
    assert "added 4 entries to 'b'" in added.stdout
    entries = _entries(store, "b")
    assert sorted((e.signal_type, e.external_id) for e in entries) == [
        ("md5", "one.jpg"),
        ("md5", "two.jpg"),
        ("pdq", "one.jpg"),
        ("pdq", "two.jpg"),
    ]
    assert {(e.labels, e.source) for e in entries} == {("A1", "ana")}
    md5 = {e.external_id: e.value for e in entries if e.signal_type == "md5"}
    assert md5["one.jpg"] == hashlib.md5(one.read_bytes()).digest()
    assert md5["two.jpg"] == hashlib.md5(two.read_bytes()).digest()
    again = _ok("bank", "add", "b", str(one), "--signals", "pdq", "--external-id", "case-9")
    assert "added 0 entries to 'b', 1 already there" in again.stdout
    # A broken file is reported, the good ones are added, and the exit code says so.
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0" + bytes(100))
    three = pictures.write(tmp_path / "three.jpg", 3)
    partial = _run("bank", "add", "b", str(broken), str(three), "--signals", "pdq")
    assert partial.exit_code == 1
    assert "skipped" in partial.stderr
    assert "broken.jpg" in partial.stderr
    assert "added 1 entry to 'b'" in partial.stdout
    assert len(_entries(store, "b")) == 5


def test_add_files_signal_choice(
    home: Path, store: Database, tmp_path: Path, pictures: Any
) -> None:
    _ok("bank", "create", "b")
    one = pictures.write(tmp_path / "one.jpg", 1)
    _one_line_error(_run("bank", "add", "b", str(one), "--signals", "pdq,foo"), "'foo'")
    usage = _run("bank", "add", "b", str(one), "--signals", " , ")
    assert usage.exit_code == 2
    assert "--signals" in usage.stderr
    assert _entries(store, "b") == []
    # An alias selects the signal it names.
    _ok("bank", "add", "b", str(one), "--signals", "pdq256")
    assert [e.signal_type for e in _entries(store, "b")] == ["pdq"]


def test_add_hashes(home: Path, store: Database) -> None:
    _ok("bank", "create", "b")
    _ok("bank", "add", "b", "--hash", PDQ_A, "--hash", PDQ_B.upper(), "--labels", "B2")
    _ok("bank", "add", "b", "--hash", MD5_EMPTY, "--signal-type", "md5", "--external-id", "x")
    entries = _entries(store, "b")
    assert [(e.signal_type, e.value.hex(), e.labels) for e in entries] == [
        ("pdq", PDQ_A, "B2"),
        ("pdq", PDQ_B, "B2"),
        ("md5", MD5_EMPTY, ""),
    ]
    assert entries[2].external_id == "x"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--hash", PDQ_A, "--hash", "abc"], "pdq hash must be 64 hex digits"),
        (["--hash", PDQ_A, "--hash", "z" * 64], "not hexadecimal"),
        (["--hash", MD5_EMPTY], "pdq hash must be 64 hex digits"),
        (["--hash", PDQ_A, "--signal-type", "pdq9"], "pdq9"),
        (["--hash", PDQ_A, "--labels", "has space"], "invalid label"),
        ([], "give media files or --hash values"),
    ],
)
def test_bad_hashes_add_nothing(home: Path, store: Database, args: list[str], needle: str) -> None:
    _ok("bank", "create", "b")
    _one_line_error(_run("bank", "add", "b", *args), needle)
    assert _entries(store, "b") == []
    assert _audit(store) == [("bank.create", "bank:b")]


def test_import_and_export(home: Path, store: Database, tmp_path: Path) -> None:
    _ok("bank", "create", "src")
    listing = tmp_path / "list.csv"
    listing.write_text(
        "signal_type,hash,labels,source,external_id\n"
        f"pdq,{PDQ_A},A1,reviewer:ana,case-17\n"
        f'md5,{MD5_EMPTY},"A2,B1",,case-18\n'
        f"pdq,{PDQ_A},A1,,dup\n"
    )
    result = _ok("bank", "import", "src", str(listing))
    assert "imported 3 record(s)" in result.stdout
    assert "2 added, 1 duplicate(s), 0 removed" in result.stdout
    entries = _entries(store, "src")
    assert [(e.signal_type, e.labels, e.source, e.external_id) for e in entries] == [
        ("pdq", "A1", "reviewer:ana", "case-17"),
        ("md5", "A2 B1", "list.csv", "case-18"),
    ]
    # A headerless list of one type, format named.
    plain = tmp_path / "plain.txt"
    plain.write_text(f"{PDQ_B}\n")
    _ok("bank", "import", "src", str(plain), "--format", "csv", "--signal-type", "pdq")
    assert len(_entries(store, "src")) == 3

    exported = _ok("bank", "export", "src")
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert sorted((r["signal_type"], r["value"]) for r in rows) == sorted(
        [("pdq", PDQ_A), ("md5", MD5_EMPTY), ("pdq", PDQ_B)]
    )
    assert "exported 3 entries" in exported.stderr
    out = tmp_path / "copy.csv"
    _ok("bank", "export", "src", "--out", str(out), "--signal-type", "pdq")
    _ok("bank", "create", "dst")
    _ok("bank", "import", "dst", str(out))
    copied = _entries(store, "dst")
    assert sorted(e.value.hex() for e in copied) == sorted([PDQ_A, PDQ_B])
    assert {e.external_id for e in copied} == {"case-17", ""}
    jsonl = tmp_path / "copy.jsonl"
    _ok("bank", "export", "src", "--format", "threatexchange", "--out", str(jsonl))
    assert len(jsonl.read_text().splitlines()) == 3
    actions = [a for a, _ in _audit(store)]
    assert actions.count("bank.import") == 3


def test_a_broken_row_imports_nothing_and_names_its_line(
    home: Path, store: Database, tmp_path: Path
) -> None:
    _ok("bank", "create", "b")
    rows = ["signal_type,hash"] + [f"pdq,{i:064x}" for i in range(1, 30)]
    rows.insert(25, "pdq,not-a-hash")  # line 26 of the file
    listing = tmp_path / "list.csv"
    listing.write_text("\n".join(rows) + "\n")
    _one_line_error(_run("bank", "import", "b", str(listing)), "line 26")
    assert _entries(store, "b") == []
    assert [a for a, _ in _audit(store)] == ["bank.create"]
    missing = _run("bank", "import", "b", str(tmp_path / "absent.csv"))
    _one_line_error(missing, "no such file")
    _one_line_error(_run("bank", "import", "b", str(listing), "--format", "xls"), "xls")


def test_disable_and_enable(home: Path, store: Database) -> None:
    _ok("bank", "create", "b")
    _ok("bank", "create", "other")
    _ok("bank", "add", "b", "--hash", PDQ_A, "--hash", PDQ_B)
    first, second = (e.id for e in _entries(store, "b"))
    result = _ok("bank", "disable", "b", str(first), str(second))
    assert "disabled 2 entries" in result.stdout
    assert {e.disabled_until for e in _entries(store, "b")} == {FOREVER}
    _ok("bank", "enable", "b", str(second))
    assert [e.disabled_until for e in _entries(store, "b")] == [FOREVER, None]
    until = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    _ok("bank", "disable", "b", str(second), "--until", until.isoformat())
    assert _entries(store, "b")[1].disabled_until == until
    _ok("bank", "enable", "b", str(first), str(second))
    assert [e.disabled_until for e in _entries(store, "b")] == [None, None]

    _one_line_error(_run("bank", "disable", "b", str(first), "--until", "2001-01-01"), "future")
    _one_line_error(_run("bank", "disable", "b", str(first), "--until", "soon"), "ISO")
    _one_line_error(_run("bank", "disable", "b", "9999"), "no bank entry with id 9999")
    _one_line_error(_run("bank", "disable", "other", str(first)), "in bank 'other'")
    _one_line_error(_run("bank", "enable", "other", str(first)), "in bank 'other'")
    # A bad id after a good one: the good one is not disabled either.
    _one_line_error(_run("bank", "disable", "b", str(first), "9999"), "9999")
    assert [e.disabled_until for e in _entries(store, "b")] == [None, None]
    actions = [a for a, _ in _audit(store)]
    assert actions.count("entry.disable") == 2
    assert actions.count("entry.enable") == 2

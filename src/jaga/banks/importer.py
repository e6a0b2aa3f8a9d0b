"""Importing a hash file into a bank, all or nothing, and exporting a bank in any format.

An import reads the file as a stream and writes entries in chunks inside one savepoint: memory
stays flat for files of millions of rows, and a bad row anywhere -- even the last -- rolls back
everything written before it, whatever the caller then does with its transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

from sqlalchemy.orm import Session

from jaga.banks.formats import Format, ReadStats, get_format, guess_format
from jaga.banks.records import EntryRecord
from jaga.banks.service import DEFAULT_CHUNK, ApplyReport, BankRef, apply_records, get_bank
from jaga.errors import InvalidInput, NotFound
from jaga.signals.registry import get_signal_type
from jaga.store import repo_entries

EXPORT_CHUNK: Final = 10_000

FileArg = str | Path | IO[str] | IO[bytes]


@dataclass
class ImportReport(ApplyReport):
    """What an import did: counts, plus the format and source it used."""

    format: str = ""
    source: str = ""


def _resolve(file: FileArg, fmt: str | Format | None) -> Format:
    if isinstance(fmt, Format):
        return fmt
    if fmt is not None:
        return get_format(fmt)
    if isinstance(file, str | Path):
        return guess_format(file)
    raise InvalidInput("name the format of a stream (csv, tsv, threatexchange, ncmec, stopncii)")


def _open(stack: ExitStack, file: FileArg, mode: str) -> IO[Any]:
    if isinstance(file, str | Path):
        path = Path(file)
        try:
            return stack.enter_context(path.open(mode))
        except FileNotFoundError:
            raise NotFound(f"no such file: {path}") from None
        except IsADirectoryError:
            raise InvalidInput(f"{path} is a directory, not a file") from None
        except PermissionError:
            raise InvalidInput(f"cannot read {path}: permission denied") from None
    return file


def import_file(
    session: Session,
    bank: BankRef,
    file: FileArg,
    fmt: str | Format | None = None,
    source: str | None = None,
    *,
    signal_type: str | None = None,
    delimiter: str | None = None,
    chunk: int = DEFAULT_CHUNK,
) -> ImportReport:
    """Import a file (path or open stream) into a bank; nothing is kept if any record is bad.

    ``source`` is recorded on entries whose record names none (default: the file name, or the
    format name for a stream). ``signal_type`` is the default for rows that do not say (CSV,
    signal lines); ``delimiter`` overrides CSV sniffing. Deletion records (NCMEC deleted
    entries, StopNCII withdrawals, ThreatExchange ``should_delete``) remove entries.
    """
    found = get_bank(session, bank)
    spec = _resolve(file, fmt)
    if source is None:
        source = Path(file).name if isinstance(file, str | Path) else spec.name
    stats = ReadStats()
    options = {"signal_type": signal_type, "delimiter": delimiter}
    with ExitStack() as stack:
        stream = _open(stack, file, "rb")
        records = spec.read(stream, stats=stats, **options)
        with session.begin_nested():
            report = apply_records(session, found, records, source=source, chunk=chunk)
    result = ImportReport(
        added=report.added,
        duplicates=report.duplicates,
        removed=report.removed,
        records=report.records,
        skipped=dict(stats.skipped),
        format=spec.name,
        source=source,
    )
    return result


def iter_bank_records(
    session: Session,
    bank: BankRef,
    *,
    signal_type: str | None = None,
    include_disabled: bool = True,
    chunk: int = EXPORT_CHUNK,
) -> Iterator[EntryRecord]:
    """The entries of a bank as records, in insertion order, fetched ``chunk`` rows at a time."""
    found = get_bank(session, bank)
    name = get_signal_type(signal_type).name if signal_type else None
    for rows in repo_entries.stream_bank(session, found.id, signal_type=name, chunk=chunk):
        for row in rows:
            st, value, labels, source, external_id, added_at, disabled_until = row
            if disabled_until is not None and not include_disabled:
                continue
            yield EntryRecord(
                signal_type=st,
                value=bytes(value),
                labels=tuple(labels.split()),
                source=source,
                external_id=external_id,
                added_at=added_at,
                disabled_until=disabled_until,
            )


def export_bank(
    session: Session,
    bank: BankRef,
    file: FileArg,
    fmt: str | Format | None = None,
    *,
    signal_type: str | None = None,
    include_disabled: bool = True,
    **options: Any,
) -> int:
    """Write a bank's entries to a file or stream in a format; returns how many were written.

    ``options`` go to the format's writer (``shape=`` for threatexchange, ``delimiter=`` for
    csv). Disabled entries carry their ``disabled_until`` where the format can say so.
    """
    spec = _resolve(file, fmt)
    records = iter_bank_records(
        session, bank, signal_type=signal_type, include_disabled=include_disabled
    )
    with ExitStack() as stack:
        stream = _open(stack, file, "wb") if isinstance(file, str | Path) else file
        return spec.write(records, stream, **options)

"""CSV and TSV hash lists: one entry per row, columns named by a header row.

Header names are matched case-insensitively, with spaces and dashes read as underscores, and
several spellings are accepted (``hash``/``signal``/``value``..., see ``COLUMNS``), which also
covers ``threatexchange dataset -P --csv`` output. Columns Jaga does not know are kept in
``EntryRecord.extra``. A file of bare hashes, one per line with no header, is read when a default
signal type is given. The delimiter is taken from the header line (tab, comma, semicolon or
pipe) unless given.
"""

from __future__ import annotations

import csv
import itertools
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, Final, Protocol, TypeVar

from jaga.banks.formats.base import (
    FormatError,
    ReadStats,
    error_from,
    format_timestamp,
    hex_formatter,
    hex_parser,
    parse_timestamp,
    text_input,
    text_output,
)
from jaga.banks.records import EntryRecord
from jaga.errors import JagaError
from jaga.signals.base import SignalType
from jaga.signals.registry import get_signal_type

NAME: Final = "csv"
_T = TypeVar("_T")

#: Field -> accepted header spellings (after lower-casing, ' ' and '-' -> '_').
COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "signal_type": ("signal_type", "type", "signaltype", "hash_type", "algorithm"),
    "value": (
        "hash",
        "value",
        "signal",
        "signal_str",
        "signal_value",
        "hash_value",
        "hashvalue",
        "indicator",
        "raw_indicator",
        "fingerprint",
    ),
    "labels": ("labels", "label", "tags", "tag", "classification"),
    "source": ("source", "collab", "collaboration", "provenance"),
    "external_id": ("external_id", "externalid", "id", "content_id", "entry_id"),
    "added_at": ("added_at", "added_on", "added", "timestamp", "created_at"),
    "disabled_until": ("disabled_until",),
    "deleted": ("deleted",),
}
_ALIASES: Final = {alias: name for name, aliases in COLUMNS.items() for alias in aliases}
#: The columns :func:`write` puts first, in this order.
WRITE_COLUMNS: Final = (
    "signal_type",
    "value",
    "labels",
    "source",
    "external_id",
    "added_at",
    "disabled_until",
)
_DELIMITERS: Final = ("\t", ",", ";", "|")
_LABEL_SPLIT: Final = re.compile(r"[\s,]+")
_TRUE: Final = frozenset({"1", "true", "yes", "y", "deleted"})
_FALSE: Final = frozenset({"", "0", "false", "no", "n"})


def _normalize(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def _sniff(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def read(
    stream: IO[str] | IO[bytes],
    *,
    signal_type: str | None = None,
    delimiter: str | None = None,
    stats: ReadStats | None = None,
) -> Iterator[EntryRecord]:
    """Entries of a CSV/TSV file, validated; :class:`FormatError` names the line and column."""
    del stats  # every row becomes an entry or an error
    default = get_signal_type(signal_type) if signal_type else None
    csv.field_size_limit(sys.maxsize)  # vPDQ values span many lines inside one quoted cell
    with text_input(stream) as text:
        first = text.readline()
        if not first.strip():
            return
        if delimiter is not None and len(delimiter) != 1:
            raise FormatError(f"delimiter must be one character, got {delimiter!r}", fmt=NAME)
        reader = csv.reader(
            itertools.chain([first], text), delimiter=delimiter or _sniff(first), strict=True
        )
        yield from _rows(reader, default)


class _Reader(Protocol):
    @property
    def line_num(self) -> int: ...
    def __next__(self) -> list[str]: ...


def _header(row: list[str], default: SignalType | None) -> tuple[dict[str, int], dict[str, int]]:
    """(field -> position, extra column name -> position), or ({}, {}) for a bare hash list."""
    names = [_normalize(cell) for cell in row]
    fields: dict[str, int] = {}
    extra: dict[str, int] = {}
    for position, name in enumerate(names):
        field = _ALIASES.get(name)
        if field is None:
            if name:
                extra[name] = position
            continue
        if field in fields:
            raise FormatError(
                f"columns {row[fields[field]]!r} and {row[position]!r} both give {field}",
                fmt=NAME,
                line=1,
            )
        fields[field] = position
    if "value" in fields:
        return fields, extra
    if default is not None and len(row) == 1:
        return {}, {}
    expected = ", ".join(COLUMNS["value"][:4])
    raise FormatError(
        f"no hash column in the header (name one {expected}...; or give a default signal type "
        "for a file of bare hashes)",
        fmt=NAME,
        line=1,
    )


def _rows(reader: _Reader, default: SignalType | None) -> Iterator[EntryRecord]:
    try:
        header = next(reader)
    except csv.Error as error:
        raise FormatError(str(error), fmt=NAME, line=reader.line_num) from None
    fields, extra = _header(header, default)
    if not fields:  # a bare hash list: the first line is a hash, not a header
        fields = {"value": 0}
        parse = _RowParser(fields, extra, default)
        if header[0].strip() and not header[0].lstrip().startswith("#"):
            yield parse(header, 1)
    else:
        parse = _RowParser(fields, extra, default)
    width = len(header)
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise FormatError(str(error), fmt=NAME, line=start) from None
        if len(row) != width:
            if not any(cell.strip() for cell in row):
                continue
            raise FormatError(f"expected {width} field(s), got {len(row)}", fmt=NAME, line=start)
        if row[0].startswith("#") or row[0].lstrip().startswith("#"):
            continue
        if not any(row):
            continue
        yield parse(row, start)


class _RowParser:
    """Turns rows into records: a fast path for good rows, a careful one to explain bad rows."""

    def __init__(
        self, fields: dict[str, int], extra: dict[str, int], default: SignalType | None
    ) -> None:
        self.fields = fields
        self.extra = extra
        self.default = default
        self.value_at = fields["value"]
        self.type_at = fields.get("signal_type")
        self.labels_at = fields.get("labels")
        self.source_at = fields.get("source")
        self.external_at = fields.get("external_id")
        self.added_at = fields.get("added_at")
        self.disabled_at = fields.get("disabled_until")
        self.deleted_at = fields.get("deleted")
        self.types: dict[str, tuple[SignalType, Callable[[str], bytes]]] = {}
        self.labels: dict[str, tuple[str, ...]] = {}

    def __call__(self, row: list[str], line: int) -> EntryRecord:
        try:
            return self._fast(row, line)
        except JagaError:
            return _record(row, self.fields, self.extra, self.default, line)

    def _type(self, name: str) -> tuple[SignalType, Callable[[str], bytes]]:
        found = self.types.get(name)
        if found is None:
            st = get_signal_type(name) if name else self.default
            if st is None:
                raise FormatError("no signal type")
            found = self.types[name] = (st, hex_parser(st))
        return found

    def _fast(self, row: list[str], line: int) -> EntryRecord:
        st, parse = self._type(row[self.type_at].strip() if self.type_at is not None else "")
        raw = row[self.value_at]
        value = parse(raw if "\n" in raw else raw.strip())
        labels: tuple[str, ...] = ()
        if self.labels_at is not None:
            text = row[self.labels_at]
            cached = self.labels.get(text)
            if cached is None:
                cached = tuple(label for label in _LABEL_SPLIT.split(text) if label)
                if len(self.labels) < 10_000:
                    self.labels[text] = cached
            labels = cached
        added = row[self.added_at].strip() if self.added_at is not None else ""
        disabled = row[self.disabled_at].strip() if self.disabled_at is not None else ""
        return EntryRecord(
            signal_type=st.name,
            value=value,
            labels=labels,
            source=row[self.source_at].strip() if self.source_at is not None else "",
            external_id=row[self.external_at].strip() if self.external_at is not None else "",
            added_at=parse_timestamp(added) if added else None,
            disabled_until=parse_timestamp(disabled) if disabled else None,
            deleted=_flag(row[self.deleted_at].strip()) if self.deleted_at is not None else False,
            extra={n: row[p].strip() for n, p in self.extra.items() if row[p].strip()}
            if self.extra
            else {},
            location=f"line {line}",
        )


def _cell(row: list[str], fields: dict[str, int], name: str) -> str:
    position = fields.get(name)
    return "" if position is None else row[position].strip()


def _parse(line: int, column: str, parse: Callable[[], _T]) -> _T:
    """Run one cell's parser, turning its error into a FormatError at (line, column)."""
    try:
        return parse()
    except FormatError as error:
        if error.line is not None:
            raise
        raise error_from(error, fmt=NAME, line=line, column=column) from None
    except JagaError as error:
        raise error_from(error, fmt=NAME, line=line, column=column) from None


def _signal_type(name: str, default: SignalType | None) -> SignalType:
    if name:
        return get_signal_type(name)
    if default is not None:
        return default
    raise FormatError("no signal type (add a signal_type column or give a default signal type)")


def _hash(st: SignalType, raw: str) -> bytes:
    if not raw.strip():
        raise FormatError("empty hash")
    return st.parse(raw) if "\n" in raw else st.parse(raw.strip())


def _flag(text: str) -> bool:
    lowered = text.lower()
    if lowered not in _TRUE and lowered not in _FALSE:
        raise FormatError(f"deleted must be true or false, got {text!r}")
    return lowered in _TRUE


def _record(
    row: list[str],
    fields: dict[str, int],
    extra: dict[str, int],
    default: SignalType | None,
    line: int,
) -> EntryRecord:
    type_name = _cell(row, fields, "signal_type")
    if not type_name and default is None:
        raise FormatError(
            "no signal type (add a signal_type column or give a default signal type)",
            fmt=NAME,
            line=line,
        )
    st = _parse(line, "signal_type", lambda: _signal_type(type_name, default))
    value = _parse(line, "value", lambda: _hash(st, row[fields["value"]]))
    added = _cell(row, fields, "added_at")
    disabled = _cell(row, fields, "disabled_until")
    labels = _cell(row, fields, "labels")
    return EntryRecord(
        signal_type=st.name,
        value=value,
        labels=tuple(label for label in _LABEL_SPLIT.split(labels) if label),
        source=_cell(row, fields, "source"),
        external_id=_cell(row, fields, "external_id"),
        added_at=_parse(line, "added_at", lambda: parse_timestamp(added)) if added else None,
        disabled_until=(
            _parse(line, "disabled_until", lambda: parse_timestamp(disabled)) if disabled else None
        ),
        deleted=_parse(line, "deleted", lambda: _flag(_cell(row, fields, "deleted"))),
        extra={name: row[pos].strip() for name, pos in extra.items() if row[pos].strip()},
        location=f"line {line}",
    )


def write(
    records: Iterable[EntryRecord],
    stream: IO[str] | IO[bytes],
    *,
    delimiter: str = ",",
    extra_columns: Sequence[str] | None = None,
    deletions: bool = False,
) -> int:
    """Write a header and one row per record; returns the number of records.

    Extra columns are ``extra_columns`` or, if not given, the ``extra`` keys of the first record.
    Values are written in each signal type's text form (hex; Meta's line format for vPDQ).
    ``deletions=True`` adds a ``deleted`` column; without it a deletion record is an error, so a
    withdrawal is never silently written as an addition.
    """
    count = 0
    with text_output(stream) as text:
        writer = csv.writer(text, delimiter=delimiter, lineterminator="\n")
        iterator = iter(records)
        first = next(iterator, None)
        columns = list(extra_columns) if extra_columns is not None else []
        if first is not None and extra_columns is None:
            columns = sorted(first.extra)
        writer.writerow([*WRITE_COLUMNS, *columns, *(["deleted"] if deletions else [])])
        formatters: dict[str, tuple[str, Callable[[bytes], str]]] = {}
        for record in itertools.chain([first] if first is not None else [], iterator):
            if record.deleted and not deletions:
                raise FormatError(
                    "a deletion record needs deletions=True (a 'deleted' column)",
                    fmt=NAME,
                    record=count + 1,
                )
            found = formatters.get(record.signal_type)
            if found is None:
                st = get_signal_type(record.signal_type)
                found = formatters[record.signal_type] = (st.name, hex_formatter(st))
            name, format_value = found
            row = [
                name,
                format_value(record.value),
                " ".join(record.labels),
                record.source,
                record.external_id,
                format_timestamp(record.added_at) if record.added_at else "",
                format_timestamp(record.disabled_until) if record.disabled_until else "",
                *(record.extra.get(name, "") for name in columns),
            ]
            if deletions:
                row.append("true" if record.deleted else "false")
            writer.writerow(row)
            count += 1
    return count

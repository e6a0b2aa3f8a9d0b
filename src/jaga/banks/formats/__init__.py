"""Import/export formats of bank entries, one module each, all streaming.

Every format module has ``read(stream, ...) -> Iterator[EntryRecord]`` and
``write(records, stream, ...) -> int``. :func:`get_format` finds one by name; :func:`guess_format`
by file name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import IO, Any, Final

from jaga.banks.formats import csv_format, ncmec_format, stopncii_format, threatexchange_format
from jaga.banks.formats.base import FormatError, ReadStats
from jaga.banks.records import EntryRecord
from jaga.errors import InvalidInput


class UnknownFormat(InvalidInput):
    """A format name that is not one of :data:`FORMATS`."""


@dataclass(frozen=True)
class Format:
    """A format: how to read and write it, and which options each side takes."""

    name: str
    description: str
    reader: Callable[..., Iterator[EntryRecord]]
    writer: Callable[..., int]
    read_options: frozenset[str] = frozenset()
    write_options: frozenset[str] = frozenset()
    defaults: dict[str, Any] = field(default_factory=dict)
    binary: bool = False

    def read(
        self, stream: IO[str] | IO[bytes], *, stats: ReadStats | None = None, **options: Any
    ) -> Iterator[EntryRecord]:
        return self.reader(stream, stats=stats, **self._options(options, self.read_options))

    def write(
        self, records: Iterable[EntryRecord], stream: IO[str] | IO[bytes], **options: Any
    ) -> int:
        return self.writer(records, stream, **self._options(options, self.write_options))

    def _options(self, options: dict[str, Any], allowed: frozenset[str]) -> dict[str, Any]:
        given = {k: v for k, v in options.items() if v is not None}
        unknown = sorted(set(given) - allowed)
        if unknown:
            raise InvalidInput(
                f"the {self.name} format takes no option {', '.join(unknown)}"
                + (f" (it takes: {', '.join(sorted(allowed))})" if allowed else "")
            )
        merged = {k: v for k, v in self.defaults.items() if k in allowed}
        merged.update(given)
        return merged


FORMATS: Final[dict[str, Format]] = {
    "csv": Format(
        "csv",
        "CSV hash list with a header row",
        csv_format.read,
        csv_format.write,
        frozenset({"signal_type", "delimiter"}),
        frozenset({"delimiter", "extra_columns", "deletions"}),
    ),
    "tsv": Format(
        "tsv",
        "tab-separated hash list with a header row",
        csv_format.read,
        csv_format.write,
        frozenset({"signal_type", "delimiter"}),
        frozenset({"delimiter", "extra_columns", "deletions"}),
        {"delimiter": "\t"},
    ),
    "threatexchange": Format(
        "threatexchange",
        "ThreatExchange descriptors / threat updates, HMA bank content, signal lines",
        threatexchange_format.read,
        threatexchange_format.write,
        frozenset({"signal_type"}),
        frozenset({"shape"}),
    ),
    "ncmec": Format(
        "ncmec",
        "NCMEC hash-sharing XML (queryResult pages)",
        ncmec_format.read,
        ncmec_format.write,
        binary=True,
    ),
    "stopncii": Format(
        "stopncii",
        "StopNCII FetchHashes JSON",
        stopncii_format.read,
        stopncii_format.write,
    ),
}

_EXTENSIONS: Final = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".xml": "ncmec",
    ".txt": "threatexchange",
    ".te": "threatexchange",
    ".jsonl": "threatexchange",
    ".ndjson": "threatexchange",
}


def get_format(name: str) -> Format:
    found = FORMATS.get(name.strip().lower())
    if found is None:
        raise UnknownFormat(f"unknown format {name!r}; known: {', '.join(FORMATS)}")
    return found


def guess_format(path: str | PurePath) -> Format:
    """The format a file name suggests; JSON is ambiguous, so ``.json`` needs an explicit one."""
    suffix = PurePath(path).suffix.lower()
    name = _EXTENSIONS.get(suffix)
    if name is None:
        raise UnknownFormat(
            f"cannot tell the format of {PurePath(path).name!r} from its name; "
            f"name one of: {', '.join(FORMATS)}"
        )
    return FORMATS[name]


__all__ = [
    "FORMATS",
    "Format",
    "FormatError",
    "ReadStats",
    "UnknownFormat",
    "get_format",
    "guess_format",
]

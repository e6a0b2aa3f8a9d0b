"""The unit every import/export format reads and writes: one hash with its provenance."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(slots=True)
class EntryRecord:
    """One bank entry as a file carries it.

    ``signal_type`` is a registry name (``pdq``, ``md5``...) and ``value`` the hash bytes, both
    already validated by the reader. ``deleted`` marks a withdrawal by the exchange: the importer
    removes the matching entry -- by value when the record has one, otherwise by ``external_id``
    (NCMEC deletions name only the record). ``extra`` holds whatever else the format carries
    (NCMEC member, StopNCII case numbers...), as strings. ``location`` says where in the file the
    record came from (``"line 12"``) so later errors can point there; it is not compared.

    Treat records as immutable. (Not ``frozen``: a frozen dataclass costs over a microsecond more
    to build, which is seconds on a million-row import.)
    """

    signal_type: str
    value: bytes
    labels: tuple[str, ...] = ()
    source: str = ""
    external_id: str = ""
    added_at: datetime | None = None
    disabled_until: datetime | None = None
    deleted: bool = False
    extra: Mapping[str, str] = field(default_factory=dict)
    location: str = field(default="", compare=False)

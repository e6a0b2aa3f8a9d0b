"""Meta's ThreatExchange and Hasher-Matcher-Actioner (HMA) signal files.

Read (the shape is recognised per file, and per JSON item):

* **signal lines** -- python-threatexchange's file exchange and ``threatexchange dataset -P
  --print-signals-only``: ``<signal_type> <signal>`` per line (``pdq e271...``, ``video_md5
  3a2f...``); with a default signal type, bare ``<signal>`` lines. ``#`` comments, blank lines.
* **JSON items**, as one array, as ``{"data": [...]}`` (a Graph API page) or as JSON Lines:

  - ThreatExchange *descriptors* (``raw_indicator``, ``type`` ``HASH_PDQ``/``HASH_MD5``/...,
    ``tags`` as a list or ``{"data": [{"text": ...}]}``, ``id``, ``added_on``, ``status``,
    ``owner``). ``NON_MALICIOUS`` descriptors are skipped (they are disputes, not material);
  - ThreatExchange *threat updates* (``indicator``, ``type``, ``should_delete``, ``descriptors``);
    ``should_delete`` becomes a deletion;
  - HMA 2.0 *bank content* (``id``, ``signals`` {name: value}, ``disable_until_ts``,
    ``metadata`` {``content_id``, ``json``}, ``note``): one entry per signal.

Write, with ``shape=``: ``"hma"`` (default; JSON Lines of bank content, Jaga's labels, source and
added time kept in ``metadata.json``), ``"descriptors"`` (JSON Lines of descriptors; deletions as
threat updates with ``should_delete``), or ``"signals"`` (signal lines). Signal type names are
python-threatexchange's: ``video_md5`` for MD5, ``video_sha256`` for SHA-256; vPDQ values are its
JSON list of ``"hash,quality,seconds"`` strings.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import IO, Any, Final

from jaga.banks.formats._jsonstream import JsonItems
from jaga.banks.formats.base import (
    TO_EXCHANGE_NAMES,
    FormatError,
    ReadStats,
    error_from,
    format_timestamp,
    parse_timestamp,
    signal_type_from_exchange,
    text_input,
    text_output,
)
from jaga.banks.records import EntryRecord
from jaga.errors import JagaError
from jaga.signals import vpdq
from jaga.signals.base import SignalType
from jaga.signals.registry import get_signal_type

NAME: Final = "threatexchange"
SHAPES: Final = ("hma", "descriptors", "signals")

#: ThreatExchange indicator types Jaga can hold.
INDICATOR_TYPES: Final = {
    "HASH_PDQ": "pdq",
    "HASH_MD5": "md5",
    "HASH_VIDEO_MD5": "md5",
    "HASH_SHA1": "sha1",
    "HASH_SHA256": "sha256",
    "HASH_VIDEO_SHA256": "sha256",
}
_TO_INDICATOR: Final = {
    "pdq": "HASH_PDQ",
    "md5": "HASH_MD5",
    "sha1": "HASH_SHA1",
    "sha256": "HASH_SHA256",
}
#: python-threatexchange signal types that are not hashes of media Jaga can match.
UNSUPPORTED_SIGNALS: Final = frozenset(
    {"url", "url_md5", "raw_text", "trend_query", "photodna", "tmk_pdqf", "video_tmk_pdqf"}
)
_TE_TIME: Final = "%Y-%m-%dT%H:%M:%S+0000"


def read(
    stream: IO[str] | IO[bytes],
    *,
    signal_type: str | None = None,
    stats: ReadStats | None = None,
) -> Iterator[EntryRecord]:
    """Entries of a ThreatExchange/HMA file (shape recognised from the content)."""
    stats = stats if stats is not None else ReadStats()
    default = get_signal_type(signal_type) if signal_type else None
    with text_input(stream) as text:
        first = text.read(1)
        while first and first.isspace():
            first = text.read(1)
        if not first:
            return
        if first in "[{":
            yield from _json(_Prefixed(first, text), stats)
        else:
            yield from _lines(_Prefixed(first, text), default, stats)


class _Prefixed:
    """A text stream with characters already read put back in front."""

    def __init__(self, prefix: str, rest: IO[str]) -> None:
        self._prefix = prefix
        self._rest = rest

    def read(self, size: int = -1) -> str:
        head, self._prefix = self._prefix, ""
        if size < 0:
            return head + self._rest.read()
        return head + self._rest.read(max(0, size - len(head)))

    def __iter__(self) -> Iterator[str]:
        head, self._prefix = self._prefix, ""
        first = head + self._rest.readline() if head else self._rest.readline()
        if first:
            yield first
        yield from self._rest


# -- signal lines --------------------------------------------------------------------------------


def _lines(text: _Prefixed, default: SignalType | None, stats: ReadStats) -> Iterator[EntryRecord]:
    for number, raw in enumerate(text, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        if len(parts) == 2 and (default is None or not _looks_like_value(default, line)):
            name, value_text = parts
            if name.lower() in UNSUPPORTED_SIGNALS:
                stats.skip(f"{name.lower()} signal")
                continue
            st = signal_type_from_exchange(name)
            if st is None:
                raise FormatError(f"unknown signal type {name!r}", fmt=NAME, line=number, column=1)
        elif default is not None:
            st, value_text = default, line
        else:
            raise FormatError(
                "expected '<signal_type> <signal>' (or give a default signal type)",
                fmt=NAME,
                line=number,
            )
        try:
            value = st.parse(value_text.strip())
        except JagaError as error:
            raise error_from(error, fmt=NAME, line=number, column=2) from None
        yield EntryRecord(st.name, value, location=f"line {number}")


def _looks_like_value(st: SignalType, line: str) -> bool:
    try:
        st.parse(line)
    except JagaError:
        return False
    return True


# -- JSON items ----------------------------------------------------------------------------------


def _json(text: _Prefixed, stats: ReadStats) -> Iterator[EntryRecord]:
    for number, (item, line) in enumerate(JsonItems(text, ("data",), NAME), start=1):  # type: ignore[arg-type]
        try:
            if not isinstance(item, dict):
                raise FormatError(f"expected a JSON object, got {type(item).__name__}")
            if "raw_indicator" in item:
                yield from _descriptor(item, stats, line)
            elif "indicator" in item:
                yield from _threat_update(item, stats, line)
            elif "signals" in item:
                yield from _hma_content(item, stats, line)
            else:
                raise FormatError(
                    "not a ThreatExchange descriptor (raw_indicator), threat update (indicator) "
                    "or HMA bank content (signals)"
                )
        except FormatError as error:
            if error.line is not None:
                raise
            raise FormatError(str(error), fmt=NAME, line=line, record=number) from None
        except JagaError as error:
            raise error_from(error, fmt=NAME, line=line, record=number) from None


def _str(item: Mapping[str, Any], key: str, default: str = "") -> str:
    value = item.get(key, default)
    if value is None:
        return default
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value)
    raise FormatError(f"{key!r} must be a string, got {type(value).__name__}")


def _tags(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, dict):
        value = [t.get("text") if isinstance(t, dict) else t for t in value.get("data") or []]
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise FormatError("'tags' must be a list of strings or {'data': [{'text': ...}]}")
    return tuple(value)


def _indicator_type(item: Mapping[str, Any], stats: ReadStats) -> SignalType | None:
    kind = _str(item, "type")
    name = INDICATOR_TYPES.get(kind.upper())
    if name is None:
        if not kind:
            raise FormatError("missing 'type'")
        stats.skip(f"ThreatExchange type {kind}")
        return None
    return get_signal_type(name)


def _descriptor(item: dict[str, Any], stats: ReadStats, line: int) -> Iterator[EntryRecord]:
    st = _indicator_type(item, stats)
    if st is None:
        return
    status = _str(item, "status")
    if status.upper() == "NON_MALICIOUS":
        stats.skip("NON_MALICIOUS descriptor")
        return
    extra = {"status": status} if status else {}
    owner = item.get("owner")
    if isinstance(owner, dict):
        if owner.get("id") is not None:
            extra["owner_id"] = _str(owner, "id")
        if owner.get("name"):
            extra["owner_name"] = _str(owner, "name")
    added = _str(item, "added_on")
    yield EntryRecord(
        signal_type=st.name,
        value=st.parse(_str(item, "raw_indicator")),
        labels=_tags(item.get("tags")),
        external_id=_str(item, "id"),
        added_at=parse_timestamp(added) if added else None,
        extra=extra,
        location=f"line {line}",
    )


def _threat_update(item: dict[str, Any], stats: ReadStats, line: int) -> Iterator[EntryRecord]:
    st = _indicator_type(item, stats)
    if st is None:
        return
    value = st.parse(_str(item, "indicator"))
    where = f"line {line}"
    if item.get("should_delete"):
        yield EntryRecord(
            st.name, value, external_id=_str(item, "id"), deleted=True, location=where
        )
        return
    block = item.get("descriptors") or {}
    descriptors = block.get("data") if isinstance(block, dict) else block
    if not isinstance(descriptors, list) or not all(isinstance(d, dict) for d in descriptors):
        raise FormatError("'descriptors' must be {'data': [descriptor, ...]}")
    live = [d for d in descriptors if _str(d, "status").upper() != "NON_MALICIOUS"]
    if descriptors and not live:
        stats.skip("NON_MALICIOUS descriptor")
        return
    labels: list[str] = []
    added: list[datetime] = []
    for descriptor in live:
        labels.extend(t for t in _tags(descriptor.get("tags")) if t not in labels)
        if descriptor.get("added_on"):
            added.append(parse_timestamp(_str(descriptor, "added_on")))
    yield EntryRecord(
        signal_type=st.name,
        value=value,
        labels=tuple(labels),
        external_id=_str(item, "id"),
        added_at=min(added) if added else None,
        location=where,
    )


def _hma_content(item: dict[str, Any], stats: ReadStats, line: int) -> Iterator[EntryRecord]:
    signals = item.get("signals")
    if not isinstance(signals, dict):
        raise FormatError("'signals' must be an object of signal type to value")
    metadata = item.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise FormatError("'metadata' must be an object")
    extra_json = metadata.get("json") or {}
    if not isinstance(extra_json, dict):
        extra_json = {}
    external_id = _str(metadata, "content_id") or _str(item, "id")
    disable = item.get("disable_until_ts") or 0
    if isinstance(disable, bool) or not isinstance(disable, int | float):
        raise FormatError("'disable_until_ts' must be a number of seconds")
    added = _str(extra_json, "added_at")
    note = _str(item, "note")
    for name, value in signals.items():
        st = signal_type_from_exchange(name)
        if st is None:
            stats.skip(f"{name} signal")
            continue
        if not isinstance(value, str):
            raise FormatError(f"signal {name!r} must be a string")
        yield EntryRecord(
            signal_type=st.name,
            value=st.parse(value),
            labels=_tags(extra_json.get("labels")),
            source=_str(extra_json, "source"),
            external_id=external_id,
            added_at=parse_timestamp(added) if added else None,
            disabled_until=parse_timestamp(disable) if disable > 0 else None,
            extra={"note": note} if note else {},
            location=f"line {line}",
        )


# -- writing -------------------------------------------------------------------------------------


def exchange_value(signal_type: str, value: bytes) -> str:
    """A value as python-threatexchange writes it (vPDQ: its JSON list of frame strings)."""
    st = get_signal_type(signal_type)
    if st.name == "vpdq":
        frames = vpdq.unpack(value)
        return json.dumps([f"{f.hash.hex()},{f.quality},{f.timestamp:.3f}" for f in frames])
    return st.format(value)


def _exchange_name(signal_type: str) -> str:
    name = get_signal_type(signal_type).name
    return TO_EXCHANGE_NAMES.get(name, name)


def _hma_object(record: EntryRecord) -> dict[str, Any]:
    if record.deleted:
        raise FormatError("HMA bank content cannot express a deletion; use shape='descriptors'")
    content: dict[str, Any] = {}
    if record.external_id.isdigit():
        content["id"] = int(record.external_id)
    content["signals"] = {
        _exchange_name(record.signal_type): exchange_value(record.signal_type, record.value)
    }
    disabled = record.disabled_until
    content["disable_until_ts"] = int(disabled.timestamp()) if disabled else 0
    extra_json: dict[str, Any] = {}
    if record.labels:
        extra_json["labels"] = list(record.labels)
    if record.source:
        extra_json["source"] = record.source
    if record.added_at:
        extra_json["added_at"] = format_timestamp(record.added_at)
    metadata: dict[str, Any] = {}
    if record.external_id:
        metadata["content_id"] = record.external_id
    if extra_json:
        metadata["json"] = extra_json
    if metadata:
        content["metadata"] = metadata
    if record.extra.get("note"):
        content["note"] = record.extra["note"]
    return content


def _descriptor_object(record: EntryRecord) -> dict[str, Any]:
    st = get_signal_type(record.signal_type)
    kind = _TO_INDICATOR.get(st.name)
    if kind is None:
        raise FormatError(f"ThreatExchange has no indicator type for {st.name}")
    if record.deleted:
        update: dict[str, Any] = {"indicator": st.format(record.value), "type": kind}
        if record.external_id:
            update["id"] = record.external_id
        update["should_delete"] = True
        return update
    descriptor: dict[str, Any] = {}
    if record.external_id:
        descriptor["id"] = record.external_id
    descriptor["raw_indicator"] = st.format(record.value)
    descriptor["type"] = kind
    descriptor["tags"] = list(record.labels)
    if record.added_at:
        descriptor["added_on"] = record.added_at.astimezone(UTC).strftime(_TE_TIME)
    if record.extra.get("status"):
        descriptor["status"] = record.extra["status"]
    owner = {
        k: record.extra[f"owner_{k}"] for k in ("id", "name") if record.extra.get(f"owner_{k}")
    }
    if owner:
        descriptor["owner"] = owner
    return descriptor


def write(
    records: Iterable[EntryRecord], stream: IO[str] | IO[bytes], *, shape: str = "hma"
) -> int:
    """Write records in one of ``SHAPES``; returns the number of records written."""
    if shape not in SHAPES:
        raise FormatError(f"shape must be one of {', '.join(SHAPES)}, got {shape!r}", fmt=NAME)
    count = 0
    with text_output(stream) as text:
        for record in records:
            try:
                if shape == "signals":
                    if record.deleted:
                        raise FormatError("signal lines cannot express a deletion")
                    name = _exchange_name(record.signal_type)
                    text.write(f"{name} {exchange_value(record.signal_type, record.value)}\n")
                else:
                    build = _hma_object if shape == "hma" else _descriptor_object
                    text.write(json.dumps(build(record), separators=(", ", ": ")) + "\n")
            except FormatError as error:
                raise FormatError(str(error), fmt=NAME, record=count + 1) from None
            count += 1
    return count

"""NCMEC hash-sharing XML (API v2 ``queryResult`` pages), read as a stream.

Each ``<image>``/``<video>`` names its member (the sharing ESP: ``<member id="42">Name</member>``),
its ``<id>``, ``<timestamp>``, ``<classification>`` (A1/A2/B1/B2) and ``<fingerprints>``. Every
fingerprint Jaga can match becomes one entry: ``md5``, ``sha1`` (kept for images too, unlike HMA)
and ``pdq``; others (``pdna``, ``netclean``, ``tmk-pdqf``, links without a value...) are counted
as skipped. ``<deletedImage>``/``<deletedVideo>`` become deletions of the entries with that
record's external id, ``<member id>-<id>`` (the key HMA uses too).

Files can be gigabytes: elements are parsed with ``lxml.etree.iterparse`` and cleared once read.
The parser never resolves entities, loads DTDs or touches the network, and a document with a
DOCTYPE is refused outright (XXE and entity-expansion attacks need one).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from typing import IO, Any, Final

from lxml import etree

from jaga.banks.formats.base import (
    FormatError,
    ReadStats,
    binary_input,
    binary_output,
    error_from,
    format_timestamp,
    parse_timestamp,
)
from jaga.banks.records import EntryRecord
from jaga.errors import JagaError
from jaga.signals.registry import get_signal_type

NAME: Final = "ncmec"
NAMESPACE: Final = "https://hashsharing.ncmec.org/hashsharing/v2"
ENTRY_TAGS: Final = frozenset({"image", "video", "deletedImage", "deletedVideo"})
#: NCMEC fingerprint element -> Jaga signal type.
FINGERPRINTS: Final = {"md5": "md5", "sha1": "sha1", "pdq": "pdq"}
_WRITE_ORDER: Final = ("md5", "sha1", "pdq")


def _local(tag: Any) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def read(stream: IO[str] | IO[bytes], *, stats: ReadStats | None = None) -> Iterator[EntryRecord]:
    """Entries and deletions of an NCMEC XML file; :class:`FormatError` names the line."""
    stats = stats if stats is not None else ReadStats()
    events = etree.iterparse(
        binary_input(stream),
        events=("start", "end"),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    root_checked = False
    number = 0
    try:
        for event, element in events:
            if not root_checked:
                _refuse_doctype(element)
                root_checked = True
            if event != "end" or _local(element.tag) not in ENTRY_TAGS:
                continue
            number += 1
            yield from _entry(element, number, stats)
            element.clear()
            parent = element.getparent()
            while parent is not None and element.getprevious() is not None:
                del parent[0]
    except etree.XMLSyntaxError as error:
        line, column = error.position
        message = str(error.msg or error).split(", line ")[0]
        raise FormatError(message, fmt=NAME, line=line or None, column=column or None) from None
    if not root_checked:
        raise FormatError("empty document", fmt=NAME, line=1)


def _refuse_doctype(element: Any) -> None:
    info = element.getroottree().docinfo
    if info.doctype or info.internalDTD is not None or info.system_url or info.public_id:
        raise FormatError(
            "a DOCTYPE is not allowed (entities and DTDs are never processed)",
            fmt=NAME,
            line=1,
        )


def _children(element: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for child in element:
        name = _local(child.tag)
        if name and name not in found:
            found[name] = child
    return found


def _text(element: Any) -> str:
    if element is None:
        return ""
    if len(element) and any(not isinstance(c.tag, str) for c in element):
        raise FormatError("unexpanded entity reference")
    return (element.text or "").strip()


def _entry(element: Any, number: int, stats: ReadStats) -> Iterator[EntryRecord]:
    line = element.sourceline
    where = f"line {line}" if line else f"record {number}"
    try:
        tag = _local(element.tag)
        deleted = tag.startswith("deleted")
        kind = tag[len("deleted") :].lower() if deleted else tag
        parts = _children(element)
        record_id = _text(parts.get("id"))
        if not record_id:
            raise FormatError(f"<{tag}> has no <id>")
        extra = {"entry_id": record_id, "entry_type": kind}
        member = parts.get("member")
        external_id = record_id
        if member is not None:
            member_id = (member.get("id") or "").strip()
            if member_id:
                extra["member_id"] = member_id
                external_id = f"{member_id}-{record_id}"
            if _text(member):
                extra["member_name"] = _text(member)
        stamp = _text(parts.get("timestamp"))
        added_at = parse_timestamp(stamp) if stamp else None
        if deleted:
            yield EntryRecord(
                "",
                b"",
                external_id=external_id,
                added_at=added_at,
                deleted=True,
                extra=extra,
                location=where,
            )
            return
        labels = tuple(_text(parts.get("classification")).split())
        fingerprints = parts.get("fingerprints")
        for child in fingerprints if fingerprints is not None else ():
            name = _local(child.tag)
            if not name:
                continue
            value_text = _text(child)
            signal = FINGERPRINTS.get(name.lower())
            if signal is None or not value_text:
                stats.skip(
                    f"{name} fingerprint" if value_text else f"{name} fingerprint (no value)"
                )
                continue
            st = get_signal_type(signal)
            yield EntryRecord(
                signal_type=st.name,
                value=st.parse(value_text),
                labels=labels,
                external_id=external_id,
                added_at=added_at,
                extra=extra,
                location=where,
            )
    except FormatError as error:
        raise FormatError(str(error), fmt=NAME, line=line, record=number) from None
    except JagaError as error:
        raise error_from(error, fmt=NAME, line=line, record=number) from None


# -- writing -------------------------------------------------------------------------------------


def _group_key(record: EntryRecord) -> tuple[Any, ...]:
    return (
        record.deleted,
        record.external_id,
        record.extra.get("entry_type", "image"),
        record.labels,
        record.added_at,
        record.extra.get("member_id"),
        record.extra.get("member_name"),
        record.extra.get("entry_id"),
    )


def _groups(records: Iterable[EntryRecord]) -> Iterator[list[EntryRecord]]:
    """Consecutive records of one NCMEC entry (same id, type, member, labels, time)."""
    group: list[EntryRecord] = []
    for record in records:
        if group and (
            _group_key(record) != _group_key(group[0])
            or record.deleted
            or any(r.signal_type == record.signal_type for r in group)
        ):
            yield group
            group = []
        group.append(record)
    if group:
        yield group


def _ids(record: EntryRecord) -> tuple[str | None, str]:
    member = record.extra.get("member_id")
    entry = record.extra.get("entry_id")
    if entry:
        return member, entry
    if member and record.external_id.startswith(f"{member}-"):
        return member, record.external_id[len(member) + 1 :]
    if not record.external_id:
        raise FormatError("an NCMEC entry needs an external id")
    return member, record.external_id


def write(records: Iterable[EntryRecord], stream: IO[str] | IO[bytes]) -> int:
    """Write an NCMEC ``queryResult`` document; returns the number of records written.

    Consecutive records of one entry (same external id, member, labels and time) share one
    ``<image>``/``<video>`` element. Only md5, sha1 and pdq fingerprints can be written.
    """
    count = 0
    ns = f"{{{NAMESPACE}}}"
    with etree.xmlfile(binary_output(stream), encoding="utf-8") as xf:
        xf.write_declaration(standalone=True)
        with xf.element(f"{ns}queryResult", nsmap={None: NAMESPACE}), ExitStack() as section:
            current: str | None = None
            for group in _groups(records):
                kind = group[0].extra.get("entry_type", "image")
                if kind not in ("image", "video"):
                    raise FormatError(
                        f"entry_type must be image or video, got {kind!r}",
                        fmt=NAME,
                        record=count + 1,
                    )
                element = _element(group, kind, ns, count)  # may raise: build before writing
                if current != kind:
                    section.close()
                    section.enter_context(xf.element(f"{ns}{kind}s"))
                    current = kind
                xf.write(element, pretty_print=True)
                count += len(group)
    return count


def _element(group: list[EntryRecord], kind: str, ns: str, count: int) -> Any:
    first = group[0]
    try:
        member_id, entry_id = _ids(first)
    except FormatError as error:
        raise FormatError(str(error), fmt=NAME, record=count + 1) from None
    tag = f"deleted{kind.capitalize()}" if first.deleted else kind
    # lxml takes None as the default-namespace key; lxml-stubs types the map as str -> str.
    element = etree.Element(f"{ns}{tag}", nsmap={None: NAMESPACE})  # type: ignore[dict-item]
    if member_id is not None or first.extra.get("member_name"):
        member = etree.SubElement(element, f"{ns}member")
        if member_id is not None:
            member.set("id", member_id)
        member.text = first.extra.get("member_name", "")
    if first.added_at is not None:
        etree.SubElement(element, f"{ns}timestamp").text = format_timestamp(first.added_at)
    etree.SubElement(element, f"{ns}id").text = entry_id
    if first.deleted:
        return element
    if first.labels:
        etree.SubElement(element, f"{ns}classification").text = " ".join(first.labels)
    fingerprints = etree.SubElement(element, f"{ns}fingerprints")
    for offset, record in enumerate(group):
        st = get_signal_type(record.signal_type)
        if st.name not in _WRITE_ORDER:
            raise FormatError(
                f"NCMEC fingerprints cannot hold {st.name}", fmt=NAME, record=count + offset + 1
            )
        etree.SubElement(fingerprints, f"{ns}{st.name}").text = st.format(record.value)
    return element

"""StopNCII.org hash records, as its FetchHashes API returns them.

Read: a FetchHashes page ``{"count", "hashRecords": [...], "nextPageToken", ...}``, several pages
as JSON Lines or in an array, a bare array of hash records, or one record per line. A record::

    {"lastModtimestamp": 1625167804, "signalType": "ImagePDQ", "hashValue": "2afc...",
     "hashStatus": "Active", "caseNumbers": {"<case id>": "Active"},
     "CSPFeedbacks": [{"source": "...", "feedbackValue": "Blocked", "tags": ["..."]}]}

``ImagePDQ`` becomes ``pdq`` and ``VideoMD5`` ``md5``; other signal types (``VideoTMK``,
``Text``, ``URL``) are counted as skipped. ``hashStatus`` ``Withdrawn`` or ``Deleted`` makes a
deletion (the person withdrew the hash: the entry must go). Labels are the feedback tags; the
status, case numbers and feedback are kept in ``extra`` (the last two as compact JSON; feedback
only when it says more than its tags).

Write: one FetchHashes-shaped page, ``{"hashRecords": [...], "count": n, ...}``, streamed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import IO, Any, Final

from jaga.banks.formats._jsonstream import JsonItems
from jaga.banks.formats.base import (
    FormatError,
    ReadStats,
    error_from,
    parse_timestamp,
    text_input,
    text_output,
)
from jaga.banks.records import EntryRecord
from jaga.errors import JagaError
from jaga.signals.registry import get_signal_type

NAME: Final = "stopncii"
SIGNAL_TYPES: Final = {"ImagePDQ": "pdq", "VideoMD5": "md5"}
_TO_STOPNCII: Final = {v: k for k, v in SIGNAL_TYPES.items()}
KNOWN_SIGNAL_TYPES: Final = frozenset(
    {"Unknown", "ImagePDQ", "VideoMD5", "VideoTMK", "Text", "URL"}
)
STATUSES: Final = frozenset({"Unknown", "Received", "Active", "Withdrawn", "Deleted"})
DELETED_STATUSES: Final = frozenset({"Withdrawn", "Deleted"})


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def read(stream: IO[str] | IO[bytes], *, stats: ReadStats | None = None) -> Iterator[EntryRecord]:
    """Entries and deletions of a StopNCII file; :class:`FormatError` names line and record."""
    stats = stats if stats is not None else ReadStats()
    with text_input(stream) as text:
        for number, (item, line) in enumerate(JsonItems(text, ("hashRecords",), NAME), start=1):
            try:
                record = _record(item, stats, line)
            except FormatError as error:
                if error.line is not None:
                    raise
                raise FormatError(str(error), fmt=NAME, line=line, record=number) from None
            except JagaError as error:
                raise error_from(error, fmt=NAME, line=line, record=number) from None
            if record is not None:
                yield record


def _field(item: dict[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> Any:
    if key not in item:
        raise FormatError(f"missing {key!r}")
    value = item[key]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise FormatError(f"{key!r} must be {what}, got {json.dumps(value)[:40]}")
    return value


def _record(item: Any, stats: ReadStats, line: int) -> EntryRecord | None:
    if not isinstance(item, dict):
        raise FormatError(f"a hash record must be a JSON object, got {type(item).__name__}")
    if "signalType" not in item and "hashValue" not in item:
        raise FormatError(
            "not a StopNCII hash record (no signalType/hashValue) nor a page (no hashRecords)"
        )
    kind = _field(item, "signalType", str, "a string")
    if kind not in KNOWN_SIGNAL_TYPES:
        raise FormatError(f"unknown signalType {kind!r}")
    hash_value = _field(item, "hashValue", str, "a string")
    status = item.get("hashStatus", "")
    if status and (not isinstance(status, str) or status not in STATUSES):
        raise FormatError(f"unknown hashStatus {json.dumps(status)[:40]}")
    name = SIGNAL_TYPES.get(kind)
    if name is None:
        stats.skip(f"{kind} signal")
        return None
    st = get_signal_type(name)
    value = st.parse(hash_value)
    extra: dict[str, str] = {}
    if status:
        extra["status"] = status
    cases = item.get("caseNumbers")
    if cases is not None:
        if not isinstance(cases, dict) or not all(isinstance(v, str) for v in cases.values()):
            raise FormatError("'caseNumbers' must be an object of case id to status")
        if cases:
            extra["case_numbers"] = _compact(cases)
    feedbacks = item.get("CSPFeedbacks")
    if feedbacks is None:
        feedbacks = []
    if not isinstance(feedbacks, list) or not all(isinstance(f, dict) for f in feedbacks):
        raise FormatError("'CSPFeedbacks' must be a list of objects")
    tags: set[str] = set()
    meaningful = False
    for feedback in feedbacks:
        found = feedback.get("tags")
        found = [] if found is None else found
        if not isinstance(found, list) or not all(isinstance(t, str) for t in found):
            raise FormatError("feedback 'tags' must be a list of strings")
        tags.update(found)
        if feedback.get("source") or feedback.get("feedbackValue", "None") != "None":
            meaningful = True
    if meaningful:
        extra["csp_feedback"] = _compact(feedbacks)
    stamp = item.get("lastModtimestamp")
    if stamp is not None and (isinstance(stamp, bool) or not isinstance(stamp, int | float)):
        raise FormatError("'lastModtimestamp' must be Unix seconds")
    return EntryRecord(
        signal_type=st.name,
        value=value,
        labels=tuple(sorted(tags)),
        added_at=parse_timestamp(stamp) if stamp is not None else None,
        deleted=status in DELETED_STATUSES,
        extra=extra,
        location=f"line {line}",
    )


def _hash_record(record: EntryRecord) -> dict[str, Any]:
    st = get_signal_type(record.signal_type)
    kind = _TO_STOPNCII.get(st.name)
    if kind is None:
        raise FormatError(f"StopNCII has no signal type for {st.name}")
    out: dict[str, Any] = {}
    if record.added_at is not None:
        out["lastModtimestamp"] = int(record.added_at.timestamp())
    out["signalType"] = kind
    out["hashValue"] = st.format(record.value)
    status = record.extra.get("status", "")
    if (status in DELETED_STATUSES) != record.deleted or status not in STATUSES:
        status = "Deleted" if record.deleted else "Active"
    out["hashStatus"] = status
    if record.extra.get("case_numbers"):
        out["caseNumbers"] = json.loads(record.extra["case_numbers"])
    if record.extra.get("csp_feedback"):
        out["CSPFeedbacks"] = json.loads(record.extra["csp_feedback"])
    elif record.labels:
        out["CSPFeedbacks"] = [{"feedbackValue": "None", "tags": list(record.labels)}]
    return out


def write(records: Iterable[EntryRecord], stream: IO[str] | IO[bytes]) -> int:
    """Write one FetchHashes-shaped page; the count goes last so the page can be streamed."""
    count = 0
    with text_output(stream) as text:
        text.write('{"hashRecords": [')
        for record in records:
            try:
                item = _hash_record(record)
            except FormatError as error:
                raise FormatError(str(error), fmt=NAME, record=count + 1) from None
            text.write(("\n  " if count == 0 else ",\n  ") + json.dumps(item))
            count += 1
        text.write(f'\n], "count": {count}, "hasMoreRecords": false}}\n')
    return count

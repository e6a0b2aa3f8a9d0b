"""StopNCII FetchHashes JSON: pages, withdrawals, skipped types, wrong shapes, round trips."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaga.banks.formats import FormatError, ReadStats, stopncii_format
from jaga.banks.records import EntryRecord

PDQ_1 = "2a" * 32
PDQ_2 = "79" * 32
MD5 = "9d" * 16

PAGE = {
    "count": 3,
    "nextSetTimestamp": 1625175071,
    "nextPageToken": "W3siY29tcG9zaXRl",
    "hasMoreRecords": True,
    "hashRecords": [
        {
            "lastModtimestamp": 1625167804,
            "hashValue": PDQ_1,
            "hashStatus": "Received",
            "caseNumbers": {"case-b": "Received", "case-a": "Received"},
            "signalType": "ImagePDQ",
        },
        {
            "lastModtimestamp": 1625175071,
            "hashValue": MD5,
            "hashStatus": "Active",
            "caseNumbers": {"case-c": "Active"},
            "signalType": "VideoMD5",
            "CSPFeedbacks": [
                {
                    "source": "Some CSP",
                    "feedbackValue": "Blocked",
                    "tags": ["Nude", "Objectionable"],
                }
            ],
        },
        {
            "lastModtimestamp": 1625175099,
            "hashValue": PDQ_2,
            "hashStatus": "Withdrawn",
            "caseNumbers": {},
            "signalType": "ImagePDQ",
        },
        {
            "lastModtimestamp": 1625175100,
            "hashValue": "0f" * 20,
            "hashStatus": "Active",
            "caseNumbers": {},
            "signalType": "VideoTMK",
        },
    ],
}


def _read(text: str) -> tuple[list[EntryRecord], ReadStats]:
    stats = ReadStats()
    return list(stopncii_format.read(io.StringIO(text), stats=stats)), stats


def test_fetch_hashes_page() -> None:
    records, stats = _read(json.dumps(PAGE, indent=2))
    assert records == [
        EntryRecord(
            "pdq",
            bytes.fromhex(PDQ_1),
            added_at=datetime.fromtimestamp(1625167804, UTC),
            extra={
                "status": "Received",
                "case_numbers": '{"case-a":"Received","case-b":"Received"}',
            },
        ),
        EntryRecord(
            "md5",
            bytes.fromhex(MD5),
            labels=("Nude", "Objectionable"),
            added_at=datetime.fromtimestamp(1625175071, UTC),
            extra={
                "status": "Active",
                "case_numbers": '{"case-c":"Active"}',
                "csp_feedback": (
                    '[{"feedbackValue":"Blocked","source":"Some CSP",'
                    '"tags":["Nude","Objectionable"]}]'
                ),
            },
        ),
        EntryRecord(
            "pdq",
            bytes.fromhex(PDQ_2),
            added_at=datetime.fromtimestamp(1625175099, UTC),
            deleted=True,
            extra={"status": "Withdrawn"},
        ),
    ]
    assert stats.skipped == {"VideoTMK signal": 1}


def test_pages_as_json_lines_and_bare_records() -> None:
    page = json.dumps({"hashRecords": PAGE["hashRecords"][:1], "count": 1})
    record = json.dumps(PAGE["hashRecords"][1])
    records, _ = _read(f"{page}\n{record}\n[{record}]\n")
    assert [r.signal_type for r in records] == ["pdq", "md5", "md5"]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ('"just a string"', r"line 1: expected a JSON object or array"),
        ('{"hashRecords": [1]}', r"record 1: a hash record must be a JSON object"),
        ('{"count": 0, "records": []}', r"record 1: not a StopNCII hash record"),
        ('[{"signalType": "ImagePDQ"}]', r"record 1: missing 'hashValue'"),
        ('[{"signalType": "ImagePDQ", "hashValue": 5}]', r"'hashValue' must be a string"),
        ('[{"signalType": "ImageXYZ", "hashValue": "ab"}]', r"unknown signalType 'ImageXYZ'"),
        (
            f'[{{"signalType": "ImagePDQ", "hashValue": "{PDQ_1}", "hashStatus": "Gone"}}]',
            r"unknown hashStatus",
        ),
        (
            f'[{{"signalType": "ImagePDQ", "hashValue": "{PDQ_1}", "caseNumbers": []}}]',
            r"'caseNumbers' must be",
        ),
        (
            f'[{{"signalType": "ImagePDQ", "hashValue": "{PDQ_1}", "CSPFeedbacks": {{}}}}]',
            r"'CSPFeedbacks' must be",
        ),
        (
            f'[{{"signalType": "ImagePDQ", "hashValue": "{PDQ_1}", "lastModtimestamp": "x"}}]',
            r"Unix seconds",
        ),
        ('[{"signalType": "ImagePDQ", "hashValue": "abc"}]', r"record 1: pdq hash must be 64"),
        (
            '{"hashRecords": [\n{"signalType": "ImagePDQ", "hashValue": "' + PDQ_1 + '"},\n'
            '{"signalType": ',
            r"line 3: malformed JSON",
        ),
    ],
)
def test_wrong_shapes(document: str, message: str) -> None:
    with pytest.raises(FormatError, match=message) as caught:
        _read(document)
    assert str(caught.value).startswith("stopncii ")


def test_writer_refuses_types_stopncii_cannot_hold() -> None:
    with pytest.raises(FormatError, match="no signal type for sha1"):
        stopncii_format.write([EntryRecord("sha1", b"\0" * 20)], io.StringIO())


# -- round trip ------------------------------------------------------------------------------------

_TAG = st.text(alphabet="abcdefghijklmnopqrstuvwxyzNO0123456789_", min_size=1, max_size=8)
_WORD = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=10
)
_SECONDS = st.integers(0, 7_000_000_000).map(lambda s: datetime.fromtimestamp(s, UTC))


def _compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


@st.composite
def _record(draw: st.DrawFn) -> EntryRecord:
    signal_type = draw(st.sampled_from(["pdq", "md5"]))
    value = draw(
        st.binary(
            min_size=32 if signal_type == "pdq" else 16, max_size=32 if signal_type == "pdq" else 16
        )
    )
    status = draw(st.sampled_from(sorted(stopncii_format.STATUSES)))
    extra = {"status": status}
    cases = draw(st.dictionaries(_WORD, st.sampled_from(["Received", "Active"]), max_size=3))
    if cases:
        extra["case_numbers"] = _compact(cases)
    labels: tuple[str, ...]
    if draw(st.booleans()):
        feedbacks = draw(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "feedbackValue": st.sampled_from(
                            ["Blocked", "NotBlocked", "PendingReview"]
                        ),
                        "source": _WORD,
                        "tags": st.lists(_TAG, max_size=3),
                    }
                ),
                min_size=1,
                max_size=2,
            )
        )
        extra["csp_feedback"] = _compact(feedbacks)
        labels = tuple(sorted({t for f in feedbacks for t in f["tags"]}))
    else:
        labels = tuple(sorted(set(draw(st.lists(_TAG, max_size=3)))))
    return EntryRecord(
        signal_type,
        value,
        labels=labels,
        added_at=draw(st.none() | _SECONDS),
        deleted=status in stopncii_format.DELETED_STATUSES,
        extra=extra,
    )


@settings(max_examples=60, deadline=None)
@given(records=st.lists(_record(), max_size=6))
def test_round_trip(records: list[EntryRecord]) -> None:
    out = io.StringIO()
    assert stopncii_format.write(records, out) == len(records)
    document = json.loads(out.getvalue())
    assert document["count"] == len(records)
    assert list(stopncii_format.read(io.StringIO(out.getvalue()))) == records

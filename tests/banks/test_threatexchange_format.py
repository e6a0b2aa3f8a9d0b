"""ThreatExchange / HMA files: signal lines, descriptors, threat updates, bank content."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaga.banks.formats import FormatError, ReadStats, threatexchange_format
from jaga.banks.records import EntryRecord
from jaga.signals import vpdq

PDQ = "f8f8" * 16
MD5 = "face" * 8
SHA1 = "b0" * 20


def _read(text: str, **options: object) -> tuple[list[EntryRecord], ReadStats]:
    stats = ReadStats()
    records = list(threatexchange_format.read(io.StringIO(text), stats=stats, **options))  # type: ignore[arg-type]
    return records, stats


def test_signal_lines() -> None:
    text = f"# exported\npdq {PDQ}\n\nvideo_md5 {MD5}\nurl https://example.com/x\nsha1 {SHA1}\n"
    records, stats = _read(text)
    assert [(r.signal_type, r.value.hex()) for r in records] == [
        ("pdq", PDQ),
        ("md5", MD5),
        ("sha1", SHA1),
    ]
    assert stats.skipped == {"url signal": 1}
    assert records[1].location == "line 4"


def test_bare_signal_lines_need_a_default_type() -> None:
    records, _ = _read(f"{PDQ}\n{'0' * 64}\n", signal_type="pdq")
    assert len(records) == 2
    with pytest.raises(FormatError, match="line 1: expected '<signal_type> <signal>'"):
        _read(f"{PDQ}\n")


def test_signal_line_errors() -> None:
    with pytest.raises(FormatError, match="line 2, column 1: unknown signal type 'pqd'"):
        _read(f"pdq {PDQ}\npqd {PDQ}\n")
    with pytest.raises(FormatError, match="line 1, column 2: pdq hash is not hexadecimal"):
        _read(f"pdq {PDQ[:-1]}z\n")


def test_descriptors_page() -> None:
    page = {
        "data": [
            {
                "id": "3058061737574159",
                "raw_indicator": MD5,
                "type": "HASH_MD5",
                "owner": {"id": "616912251743987", "name": "Example App"},
                "status": "MALICIOUS",
                "tags": {"data": [{"text": "media_type_video"}, {"text": "csam_a1"}]},
                "added_on": "2020-07-01T18:31:15+0000",
            },
            {"id": "2", "raw_indicator": PDQ, "type": "HASH_PDQ", "status": "NON_MALICIOUS"},
            {"id": "3", "raw_indicator": "abc", "type": "HASH_TMK", "tags": []},
            {"id": "4", "raw_indicator": PDQ, "type": "HASH_PDQ", "tags": ["x"]},
        ],
        "paging": {"cursors": {"after": "QVFI"}},
    }
    records, stats = _read(json.dumps(page, indent=2))
    assert records[0] == EntryRecord(
        "md5",
        bytes.fromhex(MD5),
        labels=("media_type_video", "csam_a1"),
        external_id="3058061737574159",
        added_at=datetime(2020, 7, 1, 18, 31, 15, tzinfo=UTC),
        extra={"status": "MALICIOUS", "owner_id": "616912251743987", "owner_name": "Example App"},
    )
    assert records[1] == EntryRecord("pdq", bytes.fromhex(PDQ), labels=("x",), external_id="4")
    assert stats.skipped == {"NON_MALICIOUS descriptor": 1, "ThreatExchange type HASH_TMK": 1}


def test_threat_updates_add_and_delete() -> None:
    lines = [
        {
            "id": "11",
            "indicator": PDQ,
            "type": "HASH_PDQ",
            "should_delete": False,
            "descriptors": {
                "data": [
                    {"tags": ["a"], "added_on": "2021-01-02T00:00:00+0000", "status": "MALICIOUS"},
                    {"tags": ["b", "a"], "added_on": "2020-01-02T00:00:00+0000"},
                ]
            },
        },
        {"id": "12", "indicator": MD5, "type": "HASH_VIDEO_MD5", "should_delete": True},
    ]
    records, _ = _read("\n".join(json.dumps(x) for x in lines))
    assert records == [
        EntryRecord(
            "pdq",
            bytes.fromhex(PDQ),
            labels=("a", "b"),
            external_id="11",
            added_at=datetime(2020, 1, 2, tzinfo=UTC),
        ),
        EntryRecord("md5", bytes.fromhex(MD5), external_id="12", deleted=True),
    ]


def test_hma_bank_content() -> None:
    frames = [vpdq.VpdqFeature(bytes([k]) * 32, 100, k, k * 1.0) for k in range(3)]
    te_vpdq = json.dumps([f"{f.hash.hex()},{f.quality},{f.timestamp:.3f}" for f in frames])
    content = {
        "id": 1234,
        "disable_until_ts": 0,
        "bank": {"name": "SAMPLE", "matching_enabled_ratio": 1.0},
        "signals": {"pdq": PDQ, "video_md5": MD5, "vpdq": te_vpdq, "tmk_pdqf": "zz"},
        "note": "from the UI",
    }
    records, stats = _read(json.dumps([content]))
    assert [(r.signal_type, r.external_id, r.extra) for r in records] == [
        ("pdq", "1234", {"note": "from the UI"}),
        ("md5", "1234", {"note": "from the UI"}),
        ("vpdq", "1234", {"note": "from the UI"}),
    ]
    assert vpdq.unpack(records[2].value) == frames
    assert stats.skipped == {"tmk_pdqf signal": 1}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[{"raw_indicator": "ab", "type": "HASH_PDQ"}]', r"line 1, record 1: pdq hash must be"),
        ('{"id": 1}\n{"foo": 2}', r"line 1, record 1: not a ThreatExchange descriptor"),
        (
            '[{"raw_indicator": "' + PDQ + '", "type": "HASH_PDQ"},\n  {"raw_indicator": }]',
            r"line 2: malformed JSON",
        ),
        (
            '[{"raw_indicator": "' + PDQ + '", "type": "HASH_PDQ"}, 5]',
            r"record 2: expected a JSON object",
        ),
        ('[{"raw_indicator": "' + PDQ + '"}]', r"record 1: missing 'type'"),
        ('{"raw_indicator": "' + PDQ + '", "type": "HASH_PDQ", "tags": "x"}', r"'tags' must be"),
    ],
)
def test_json_errors(text: str, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        _read(text)


def test_truncated_json() -> None:
    with pytest.raises(FormatError, match="threatexchange line 3"):
        _read('{"data": [\n {"raw_indicator": "' + PDQ + '", "type": "HASH_PDQ"},\n {"raw_')


def test_write_refuses_what_a_shape_cannot_say() -> None:
    with pytest.raises(FormatError, match="no indicator type for vpdq"):
        threatexchange_format.write(
            [EntryRecord("vpdq", vpdq.pack([vpdq.VpdqFeature(b"\0" * 32, 1, 0, 0.0)]))],
            io.StringIO(),
            shape="descriptors",
        )
    with pytest.raises(FormatError, match="cannot express a deletion"):
        threatexchange_format.write(
            [EntryRecord("pdq", b"\0" * 32, deleted=True)], io.StringIO(), shape="hma"
        )
    with pytest.raises(FormatError, match="shape must be one of"):
        threatexchange_format.write([], io.StringIO(), shape="xml")


# -- round trips -----------------------------------------------------------------------------------

_LABEL = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC0123456789_:-", min_size=1, max_size=10)
_WORD = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=12
)
_SECONDS = st.integers(86_400, 7_000_000_000).map(lambda s: datetime.fromtimestamp(s, UTC))
_MICROS = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
_SIZES = {"pdq": 32, "md5": 16, "sha1": 20, "sha256": 32}


@st.composite
def _value(draw: st.DrawFn, signal_type: str) -> bytes:
    if signal_type == "vpdq":
        count = draw(st.integers(1, 4))
        return vpdq.pack(
            vpdq.VpdqFeature(
                draw(st.binary(min_size=32, max_size=32)),
                draw(st.integers(0, 100)),
                k,
                draw(st.integers(0, 10**7)) / 1000,
            )
            for k in range(count)
        )
    return draw(st.binary(min_size=_SIZES[signal_type], max_size=_SIZES[signal_type]))


@st.composite
def _signal_record(draw: st.DrawFn) -> EntryRecord:
    signal_type = draw(st.sampled_from(["pdq", "md5", "sha1", "sha256", "vpdq"]))
    return EntryRecord(signal_type, draw(_value(signal_type)))


@st.composite
def _descriptor_record(draw: st.DrawFn) -> EntryRecord:
    signal_type = draw(st.sampled_from(["pdq", "md5", "sha1", "sha256"]))
    value = draw(_value(signal_type))
    external_id = draw(st.one_of(st.just(""), st.integers(1, 10**16).map(str)))
    if draw(st.booleans()):
        return EntryRecord(signal_type, value, external_id=external_id, deleted=True)
    extra = {}
    if draw(st.booleans()):
        extra["status"] = draw(st.sampled_from(["MALICIOUS", "SUSPICIOUS", "UNKNOWN"]))
    if draw(st.booleans()):
        extra["owner_id"] = str(draw(st.integers(1, 10**15)))
    if draw(st.booleans()):
        extra["owner_name"] = draw(_WORD)
    return EntryRecord(
        signal_type,
        value,
        labels=tuple(draw(st.lists(_LABEL, max_size=3))),
        external_id=external_id,
        added_at=draw(st.none() | _SECONDS),
        extra=extra,
    )


@st.composite
def _hma_record(draw: st.DrawFn) -> EntryRecord:
    signal_type = draw(st.sampled_from(["pdq", "md5", "sha1", "sha256", "vpdq"]))
    return EntryRecord(
        signal_type,
        draw(_value(signal_type)),
        labels=tuple(draw(st.lists(_LABEL, max_size=3))),
        source=draw(st.one_of(st.just(""), _WORD)),
        external_id=draw(st.one_of(st.just(""), _WORD, st.integers(0, 10**9).map(str))),
        added_at=draw(st.none() | _MICROS),
        disabled_until=draw(st.none() | _SECONDS),
        extra=draw(st.one_of(st.just({}), _WORD.map(lambda n: {"note": n}))),
    )


_SHAPES = {"signals": _signal_record(), "descriptors": _descriptor_record(), "hma": _hma_record()}


@settings(max_examples=40, deadline=None)
@given(data=st.data(), shape=st.sampled_from(sorted(_SHAPES)))
def test_round_trip(data: st.DataObject, shape: str) -> None:
    records = data.draw(st.lists(_SHAPES[shape], max_size=5))
    out = io.StringIO()
    assert threatexchange_format.write(records, out, shape=shape) == len(records)
    back = list(threatexchange_format.read(io.StringIO(out.getvalue())))
    assert back == records

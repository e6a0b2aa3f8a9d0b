"""NCMEC hash-sharing XML: entries, deletions, skipped fingerprints, XXE, truncation, streaming."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaga.banks.formats import FormatError, ReadStats, ncmec_format
from jaga.banks.records import EntryRecord

MD5_A = "a1" * 16
SHA1_A = "a1" * 20
PDQ_A = "a1" * 32
MD5_V = "b1" * 16

SAMPLE = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<queryResult xmlns="https://hashsharing.ncmec.org/hashsharing/v2">
    <images count="2" maxTimestamp="2017-10-24T15:10:00Z">
        <image>
            <member id="42">Example Member</member>
            <timestamp>2017-10-24T15:00:00Z</timestamp>
            <id>image1</id>
            <classification>A1</classification>
            <fingerprints>
                <md5>{MD5_A}</md5>
                <sha1>{SHA1_A}</sha1>
                <pdna>a1a1a1a1...</pdna>
                <pdq>{PDQ_A}</pdq>
            </fingerprints>
            <feedback lastUpdateTimestamp="2023-06-01T12:48:14Z">
                <affirmativeFeedback type="Md5">
                    <members><member id="7">Someone Else</member></members>
                </affirmativeFeedback>
            </feedback>
        </image>
        <deletedImage>
            <member id="43">Example Member2</member>
            <id>image4</id>
            <timestamp>2017-10-24T15:10:00Z</timestamp>
        </deletedImage>
    </images>
    <videos count="1" maxTimestamp="2019-11-24T15:10:00Z">
        <video>
            <member id="101">TX Example</member>
            <timestamp>2019-11-24T15:10:00Z</timestamp>
            <id>video1</id>
            <classification>A2</classification>
            <fingerprints>
                <md5>{MD5_V}</md5>
                <tmk-pdqf rel="self" href="/v2/entries/1/fingerprints/TMK_PDQF"/>
            </fingerprints>
        </video>
    </videos>
    <paging><next>/v2/entries?from=2017&amp;start=2001</next></paging>
</queryResult>
"""


def _read(data: str | bytes) -> tuple[list[EntryRecord], ReadStats]:
    stats = ReadStats()
    raw = data.encode() if isinstance(data, str) else data
    return list(ncmec_format.read(io.BytesIO(raw), stats=stats)), stats


def test_sample_page() -> None:
    records, stats = _read(SAMPLE)
    member = {"member_id": "42", "member_name": "Example Member"}
    image = {"entry_id": "image1", "entry_type": "image", **member}
    added = datetime(2017, 10, 24, 15, 0, tzinfo=UTC)
    assert records == [
        EntryRecord("md5", bytes.fromhex(MD5_A), ("A1",), "", "42-image1", added, extra=image),
        EntryRecord("sha1", bytes.fromhex(SHA1_A), ("A1",), "", "42-image1", added, extra=image),
        EntryRecord("pdq", bytes.fromhex(PDQ_A), ("A1",), "", "42-image1", added, extra=image),
        EntryRecord(
            "",
            b"",
            external_id="43-image4",
            added_at=datetime(2017, 10, 24, 15, 10, tzinfo=UTC),
            deleted=True,
            extra={
                "entry_id": "image4",
                "entry_type": "image",
                "member_id": "43",
                "member_name": "Example Member2",
            },
        ),
        EntryRecord(
            "md5",
            bytes.fromhex(MD5_V),
            ("A2",),
            "",
            "101-video1",
            datetime(2019, 11, 24, 15, 10, tzinfo=UTC),
            extra={
                "entry_id": "video1",
                "entry_type": "video",
                "member_id": "101",
                "member_name": "TX Example",
            },
        ),
    ]
    assert stats.skipped == {"pdna fingerprint": 1, "tmk-pdqf fingerprint (no value)": 1}
    assert records[0].location == "line 4"


def test_text_stream_works_too() -> None:
    records = list(ncmec_format.read(io.StringIO(SAMPLE.replace('encoding="UTF-8" ', ""))))
    assert len(records) == 5


def test_external_entity_is_never_resolved(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-MARKER")
    attack = f"""<?xml version="1.0"?>
<!DOCTYPE queryResult [<!ENTITY xxe SYSTEM "file://{secret}">]>
<queryResult><images><image><member id="1">m</member><id>&xxe;</id>
<fingerprints><md5>{MD5_A}</md5></fingerprints></image></images></queryResult>
"""
    with pytest.raises(FormatError, match="DOCTYPE is not allowed") as caught:
        _read(attack)
    assert "TOP-SECRET-MARKER" not in str(caught.value)


def test_entity_expansion_bomb_is_refused() -> None:
    bomb = (
        '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>\n'
        "<queryResult><images><image><id>&lol3;</id></image></images></queryResult>"
    )
    with pytest.raises(FormatError, match="DOCTYPE"):
        _read(bomb)


def test_truncated_document_names_its_line() -> None:
    cut = SAMPLE[: SAMPLE.index("<deletedImage>") + 40]
    with pytest.raises(FormatError, match=r"ncmec line \d+") as caught:
        _read(cut)
    assert caught.value.line is not None
    assert caught.value.line >= 19


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (f"<md5>{MD5_A}</md5>", "<md5>a1a1</md5>", r"line 4, record 1: md5 hash must be 32"),
        ("<id>image1</id>", "", r"line 4, record 1: <image> has no <id>"),
        (
            "<timestamp>2017-10-24T15:00:00Z</timestamp>",
            "<timestamp>last week</timestamp>",
            "not an ISO 8601 timestamp",
        ),
        ("<queryResult", "<<queryResult", r"ncmec line 2"),
    ],
)
def test_bad_entries(old: str, new: str, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        _read(SAMPLE.replace(old, new, 1))


def test_empty_input() -> None:
    with pytest.raises(FormatError):
        _read(b"")


class _Generated(io.RawIOBase):
    """A long NCMEC document produced on the fly, never held whole in memory."""

    def __init__(self, entries: int) -> None:
        self._parts = self._generate(entries)
        self._pending = b""

    def _generate(self, entries: int) -> Iterator[bytes]:
        yield b'<?xml version="1.0"?><queryResult xmlns="https://hashsharing.ncmec.org/hashsharing/v2"><images>'
        for i in range(entries):
            yield (
                f'<image><member id="9">m</member><id>i{i}</id><fingerprints>'
                f"<md5>{i:032x}</md5></fingerprints></image>\n"
            ).encode()
        yield b"</images></queryResult>"

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: object) -> int:
        view = memoryview(buffer)  # type: ignore[arg-type]
        while len(self._pending) < len(view):
            part = next(self._parts, None)
            if part is None:
                break
            self._pending += part
        count = min(len(view), len(self._pending))
        view[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


def test_streams_a_long_document() -> None:
    count = 0
    last = None
    for record in ncmec_format.read(io.BufferedReader(_Generated(20_000))):
        count += 1
        last = record
    assert count == 20_000
    assert last is not None
    assert last.external_id == "9-i19999"


def test_writer_refuses_types_ncmec_cannot_hold() -> None:
    with pytest.raises(FormatError, match="cannot hold sha256"):
        ncmec_format.write([EntryRecord("sha256", b"\0" * 32, external_id="x")], io.BytesIO())


# -- round trip ------------------------------------------------------------------------------------

_NAME = (
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz ABCDEFGHIJ0123456789-", min_size=1, max_size=12)
    .map(str.strip)
    .filter(bool)
)
_ID = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=10)
_LABEL = st.sampled_from(["A1", "A2", "B1", "B2", "X"])
_TIME = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
_SIZES = {"md5": 16, "sha1": 20, "pdq": 32}


@st.composite
def _entry(draw: st.DrawFn) -> list[EntryRecord]:
    member_id = draw(st.none() | st.integers(1, 10**6).map(str))
    entry_id = draw(_ID)
    extra = {"entry_id": entry_id, "entry_type": draw(st.sampled_from(["image", "video"]))}
    if member_id:
        extra["member_id"] = member_id
    if draw(st.booleans()):
        extra["member_name"] = draw(_NAME)
    external_id = f"{member_id}-{entry_id}" if member_id else entry_id
    added_at = draw(st.none() | _TIME)
    if draw(st.integers(0, 4)) == 0:
        return [
            EntryRecord(
                "", b"", external_id=external_id, added_at=added_at, deleted=True, extra=extra
            )
        ]
    labels = tuple(draw(st.lists(_LABEL, max_size=2)))
    types = draw(st.lists(st.sampled_from(sorted(_SIZES)), min_size=1, max_size=3, unique=True))
    return [
        EntryRecord(
            name,
            draw(st.binary(min_size=_SIZES[name], max_size=_SIZES[name])),
            labels,
            "",
            external_id,
            added_at,
            extra=extra,
        )
        for name in types
    ]


@settings(max_examples=60, deadline=None)
@given(entries=st.lists(_entry(), max_size=6))
def test_round_trip(entries: list[list[EntryRecord]]) -> None:
    records = [record for entry in entries for record in entry]
    out = io.BytesIO()
    assert ncmec_format.write(records, out) == len(records)
    assert list(ncmec_format.read(io.BytesIO(out.getvalue()))) == records

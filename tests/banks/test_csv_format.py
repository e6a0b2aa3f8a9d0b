"""CSV/TSV hash lists: headers, sniffing, bare lists, errors with line numbers, round trips."""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaga.banks.formats import FormatError, csv_format
from jaga.banks.records import EntryRecord
from jaga.signals import vpdq
from jaga.signals.base import UnknownSignalType

PDQ = "a" * 63 + "1"
MD5 = "0123456789abcdef" * 2


def _read(text: str, **options: str) -> list[EntryRecord]:
    return list(csv_format.read(io.StringIO(text), **options))


def test_header_aliases_and_extras() -> None:
    text = (
        "Signal Type,Hash,Tags,Collab,ID,Added On,Category\n"
        f"pdq,{PDQ.upper()},A1 B2,exchange-x,42,2020-07-01T18:31:15+0000,positive\n"
        f'md5,{MD5},"A2,B1",,,,\n'
    )
    first, second = _read(text)
    assert first == EntryRecord(
        "pdq",
        bytes.fromhex(PDQ),
        labels=("A1", "B2"),
        source="exchange-x",
        external_id="42",
        added_at=datetime(2020, 7, 1, 18, 31, 15, tzinfo=UTC),
        extra={"category": "positive"},
    )
    assert first.location == "line 2"
    assert second == EntryRecord("md5", bytes.fromhex(MD5), labels=("A2", "B1"))


def test_tsv_is_sniffed_and_bom_dropped() -> None:
    data = f"\ufeffhash\tlabels\n{PDQ}\tA1\n".encode()
    (record,) = csv_format.read(io.BytesIO(data), signal_type="pdq")
    assert record == EntryRecord("pdq", bytes.fromhex(PDQ), labels=("A1",))


def test_bare_hash_list_with_default_type() -> None:
    records = _read(f"{PDQ}\n\n# a comment\n{'0' * 64}\n", signal_type="pdq")
    assert [r.value.hex() for r in records] == [PDQ, "0" * 64]
    assert [r.location for r in records] == ["line 1", "line 4"]


def test_bare_hash_list_needs_a_default_type() -> None:
    with pytest.raises(FormatError, match="line 1: no hash column"):
        _read(f"{PDQ}\n")


def test_single_hash_column_with_header_and_default_type() -> None:
    (record,) = _read(f"hash\n{MD5}\n", signal_type="md5")
    assert record.signal_type == "md5"


def test_explicit_delimiter() -> None:
    (record,) = _read(f"type;hash\npdq;{PDQ}\n", delimiter=";")
    assert record.signal_type == "pdq"


def test_empty_file_has_no_records() -> None:
    assert _read("") == []
    assert _read("hash\n", signal_type="pdq") == []


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (f"pdq,{PDQ[:-1]}x", r"line 3, column 'value': pdq hash is not hexadecimal"),
        (f"pdq,{PDQ[:-2]}", r"line 3, column 'value': pdq hash must be 64 hex digits"),
        (f"md5,{PDQ}", r"line 3, column 'value': md5 hash must be 32"),
        (f"photodna,{PDQ}", r"line 3, column 'signal_type': unknown signal type 'photodna'"),
        (f"pdq,{PDQ},extra", r"line 3: expected 2 field\(s\), got 3"),
        ("pdq,", r"line 3, column 'value': empty hash"),
    ],
)
def test_broken_row_names_its_line(row: str, message: str) -> None:
    text = f"type,hash\npdq,{'0' * 64}\n{row}\npdq,{'1' * 64}\n"
    with pytest.raises(FormatError, match=message) as caught:
        _read(text)
    assert caught.value.line == 3
    assert "\n" not in str(caught.value)


def test_unknown_signal_type_is_also_the_registry_error_family() -> None:
    with pytest.raises(FormatError) as caught:
        _read(f"type,hash\nnope,{PDQ}\n")
    assert isinstance(caught.value, FormatError)
    with pytest.raises(UnknownSignalType):
        _read(f"hash\n{PDQ}\n", signal_type="nope")


def test_bad_timestamp_and_missing_type() -> None:
    with pytest.raises(FormatError, match="line 2, column 'added_at'"):
        _read(f"type,hash,added_at\npdq,{PDQ},yesterday\n")
    with pytest.raises(FormatError, match="line 2: no signal type"):
        _read(f"hash\n{PDQ}\n")


def test_two_columns_for_one_field() -> None:
    with pytest.raises(FormatError, match="line 1: columns 'hash' and 'signal' both give value"):
        _read(f"hash,signal\n{PDQ},{PDQ}\n", signal_type="pdq")


def test_unterminated_quote_is_reported() -> None:
    with pytest.raises(FormatError, match="line"):
        _read(f'type,hash,labels\npdq,{PDQ},"A1\n')


def test_deleted_column() -> None:
    records = _read(f"type,hash,deleted\npdq,{PDQ},true\nmd5,{MD5},\n")
    assert [r.deleted for r in records] == [True, False]
    with pytest.raises(FormatError, match="deleted must be true or false"):
        _read(f"type,hash,deleted\npdq,{PDQ},perhaps\n")


def test_writer_refuses_deletions_unless_asked() -> None:
    record = EntryRecord("pdq", bytes.fromhex(PDQ), deleted=True)
    with pytest.raises(FormatError, match="deletions=True"):
        csv_format.write([record], io.StringIO())
    out = io.StringIO()
    csv_format.write([record], out, deletions=True)
    assert _read(out.getvalue()) == [record]


# -- round trip ------------------------------------------------------------------------------------

_WORD = st.text(
    alphabet=st.characters(
        codec="utf-8", exclude_categories=("Cs", "Cc", "Cf", "Co", "Cn", "Zs", "Zl", "Zp")
    ),
    min_size=1,
    max_size=12,
)
_LABEL = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-",
    min_size=1,
    max_size=10,
)
_TIME = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
_FEATURE = st.builds(
    vpdq.VpdqFeature,
    st.binary(min_size=32, max_size=32),
    st.integers(0, 100),
    st.integers(0, 2**32 - 1),
    st.integers(0, 10**7).map(lambda k: k / 1000),
)
_SIZES = {"pdq": 32, "md5": 16, "sha1": 20, "sha256": 32}


@st.composite
def value_of(draw: st.DrawFn, signal_type: str) -> bytes:
    if signal_type == "vpdq":
        return vpdq.pack(draw(st.lists(_FEATURE, min_size=1, max_size=4)))
    return draw(st.binary(min_size=_SIZES[signal_type], max_size=_SIZES[signal_type]))


@st.composite
def csv_records(draw: st.DrawFn) -> list[EntryRecord]:
    keys = draw(st.lists(st.sampled_from(["note", "case", "owner"]), unique=True))
    records = []
    for _ in range(draw(st.integers(0, 6))):
        signal_type = draw(st.sampled_from(["pdq", "md5", "sha1", "sha256", "vpdq"]))
        records.append(
            EntryRecord(
                signal_type=signal_type,
                value=draw(value_of(signal_type)),
                labels=tuple(draw(st.lists(_LABEL, max_size=3, unique=True))),
                source=draw(st.one_of(st.just(""), _WORD)),
                external_id=draw(st.one_of(st.just(""), _WORD)),
                added_at=draw(st.none() | _TIME),
                disabled_until=draw(st.none() | _TIME),
                extra={key: draw(_WORD) for key in keys},
            )
        )
    return records


@settings(max_examples=60, deadline=None)
@given(records=csv_records(), delimiter=st.sampled_from([",", "\t", ";"]))
def test_round_trip(records: list[EntryRecord], delimiter: str) -> None:
    out = io.StringIO()
    assert csv_format.write(records, out, delimiter=delimiter) == len(records)
    back = list(csv_format.read(io.StringIO(out.getvalue()), delimiter=delimiter))
    assert back == records


def test_vpdq_value_spans_lines_inside_one_cell() -> None:
    value = vpdq.pack(
        [vpdq.VpdqFeature(b"\x01" * 32, 90, 0, 0.0), vpdq.VpdqFeature(b"\x02" * 32, 80, 30, 1.0)]
    )
    out = io.StringIO()
    csv_format.write([EntryRecord("vpdq", value)], out)
    assert out.getvalue().count("\n") > 2
    (back,) = _read(out.getvalue())
    assert back.value == value
    assert math.isclose(vpdq.unpack(back.value)[1].timestamp, 1.0)

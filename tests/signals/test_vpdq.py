"""vPDQ: Meta's line format, the packed bank-entry form, and the reference-style comparison."""

from __future__ import annotations

import json
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jaga.signals import InvalidHash, get_signal_type
from jaga.signals.vpdq import (
    RECORD,
    VpdqFeature,
    VpdqMatch,
    compare,
    format_line,
    format_text,
    pack,
    parse_line,
    parse_text,
    unpack,
)

REFERENCE_LINES = (
    "0,100,e271017837246aaccddea259648fb7d62f435c89d9e99b2497763e216c8d055c,0.000\n"
    "1,100,c0f11178372c6aaccddea259648fbfd62f434c89c9e99b249772be216c8d055c,0.033\n"
    "2,97,c0f10b78372c6aacc5dea25b748fb7d22f434c89c9a9db249772b6216c8d855c,0.067\n"
)

features = st.builds(
    VpdqFeature,
    hash=st.binary(min_size=32, max_size=32),
    quality=st.integers(0, 100),
    frame=st.integers(0, 2**32 - 1),
    # Meta's text keeps milliseconds; values on that grid survive text round trips exactly.
    timestamp=st.integers(0, 10**9).map(lambda ms: ms / 1000),
)


def test_reference_lines_parse_and_format_back_identically() -> None:
    parsed = parse_text(REFERENCE_LINES)
    assert [f.frame for f in parsed] == [0, 1, 2]
    assert parsed[2].quality == 97
    assert parsed[1].timestamp == 0.033
    assert parsed[0].hex.startswith("e2710178")
    assert format_text(parsed) == REFERENCE_LINES


@given(st.lists(features, min_size=1, max_size=20))
def test_text_round_trip(items: list[VpdqFeature]) -> None:
    assert parse_text(format_text(items)) == items


@given(st.lists(features, min_size=1, max_size=20))
def test_packed_round_trip(items: list[VpdqFeature]) -> None:
    value = pack(items)
    assert len(value) == RECORD.size * len(items) == 45 * len(items)
    assert unpack(value) == items


@given(st.lists(features, min_size=1, max_size=10))
def test_signal_type_parse_format_validate(items: list[VpdqFeature]) -> None:
    vpdq = get_signal_type("vpdq")
    text = format_text(items)
    value = vpdq.parse(text)
    assert value == pack(items)
    assert vpdq.format(value) == text
    assert vpdq.validate(value) == value
    # As in the reference, duplicates are dropped first (the first occurrence of a hash is kept),
    # then frames of quality < 50: with no usable frame left nothing matches.
    first: dict[bytes, int] = {}
    for f in items:
        first.setdefault(f.hash, f.quality)
    usable = any(q >= 50 for q in first.values())
    assert vpdq.distance(value, value) == (0 if usable else 100)


def test_packed_layout_is_little_endian_hash_quality_frame_timestamp() -> None:
    feature = VpdqFeature(bytes(range(32)), 87, 0x01020304, 1.5)
    value = pack([feature])
    assert value[:32] == bytes(range(32))
    assert value[32] == 87
    assert value[33:37] == bytes([4, 3, 2, 1])
    assert struct.unpack("<d", value[37:45]) == (1.5,)


def test_threatexchange_json_form_is_accepted() -> None:
    hexes = [f.hex for f in parse_text(REFERENCE_LINES)]
    text = json.dumps([f"{hexes[0]},100,0.000", f"{hexes[1]},60,1.000"])
    parsed = parse_text(text)
    assert [(f.frame, f.quality, f.timestamp) for f in parsed] == [(0, 100, 0.0), (1, 60, 1.0)]


BAD_LINES = [
    ("0,100,abc,0.000", "64 hex digits"),
    ("0,100," + "zz" * 32 + ",0.000", "not hexadecimal"),
    ("x,100," + "00" * 32 + ",0.000", "frame must be"),
    ("0,-1," + "00" * 32 + ",0.000", "quality must be"),
    ("0,101," + "00" * 32 + ",0.000", "quality must be 0-100"),
    ("0,100," + "00" * 32 + ",soon", "timestamp is not a number"),
    ("0,100," + "00" * 32 + ",nan", "timestamp must be finite"),
    ("0,100," + "00" * 32 + ",-1", "timestamp must be finite and >= 0"),
    ("0,100," + "00" * 32, "got 3 field"),
    ("0,100," + "00" * 32 + ",0.0,extra", "got 5 field"),
    ("99999999999,100," + "00" * 32 + ",0.0", "frame number out of range"),
]


@pytest.mark.parametrize(("line", "message"), BAD_LINES)
def test_malformed_lines_raise_invalid_hash_naming_the_line(line: str, message: str) -> None:
    text = REFERENCE_LINES + "\n" + line + "\n"  # the bad line is line 5 (line 4 is blank)
    with pytest.raises(InvalidHash, match=message) as info:
        parse_text(text)
    assert "line 5" in str(info.value)
    assert "\n" not in str(info.value)
    with pytest.raises(InvalidHash, match="line 5"):
        get_signal_type("vpdq").parse(text)


@pytest.mark.parametrize(
    "text",
    ["", "\n\n", "[]", "[1, 2]", "{not json", '["abc,1,0.0"]', '["' + "00" * 32 + ',1"]'],
)
def test_malformed_texts_raise_invalid_hash(text: str) -> None:
    with pytest.raises(InvalidHash) as info:
        get_signal_type("vpdq").parse(text)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (b"", "non-empty multiple of 45"),
        (b"\x00" * 44, "non-empty multiple of 45"),
        (b"\x00" * 32 + b"\xff" + b"\x00" * 12, "quality must be 0-100"),
        (b"\x00" * 37 + struct.pack("<d", float("inf")), "timestamp"),
    ],
)
def test_malformed_packed_values_raise_invalid_hash(value: bytes, message: str) -> None:
    with pytest.raises(InvalidHash, match=message):
        get_signal_type("vpdq").validate(value)


def test_parse_line_defaults_to_line_one() -> None:
    with pytest.raises(InvalidHash, match="line 1"):
        parse_line("nonsense")
    assert (
        format_line(parse_line("7,50," + "ab" * 32 + ",0.2335")) == "7,50," + "ab" * 32 + ",0.234"
    )


# -- comparison --------------------------------------------------------------------------------


def _h(n: int) -> bytes:
    """A hash whose low ``n`` bits are set: distance between _h(a) and _h(b) is |a - b|."""
    return ((1 << n) - 1).to_bytes(32, "big")


def _video(*specs: tuple[int, int]) -> list[VpdqFeature]:
    return [VpdqFeature(_h(n), q, i, float(i)) for i, (n, q) in enumerate(specs)]


def test_identical_videos_match_fully_and_disjoint_ones_not_at_all() -> None:
    video = _video((0, 100), (100, 100), (200, 100))
    assert compare(video, video) == VpdqMatch(100.0, 100.0)
    assert compare(video, _video((60, 100), (150, 100))) == VpdqMatch(0.0, 0.0)
    assert not VpdqMatch(79.9, 100).is_match()
    assert VpdqMatch(80.0, 0.0).is_match()


def test_distance_threshold_is_inclusive() -> None:
    assert compare(_video((0, 100)), _video((31, 100))).query_percent == 100.0
    assert compare(_video((0, 100)), _video((32, 100))).query_percent == 0.0
    assert compare(_video((0, 100)), _video((5, 100)), distance_threshold=4).query_percent == 0


def test_low_quality_frames_and_duplicates_are_left_out() -> None:
    query = _video((0, 100), (0, 100), (100, 100), (200, 49))
    target = _video((0, 100), (250, 100))
    # query: duplicates collapse to one, the quality-49 frame is dropped -> 1 of 2 frames match
    assert compare(query, target) == VpdqMatch(50.0, 50.0)
    assert compare(query, target, quality_threshold=0) == VpdqMatch(100 / 3, 50.0)
    assert compare(_video((0, 10)), target) == VpdqMatch(0.0, 0.0)


def test_signal_type_distance_is_the_unmatched_share_of_the_worse_side() -> None:
    vpdq = get_signal_type("vpdq")
    a = pack(_video((0, 100), (80, 100), (160, 100), (240, 100)))
    b = pack(_video((0, 100), (240, 100)))
    assert vpdq.distance(a, b) == 50  # a: 2 of 4 frames match; b: 2 of 2
    assert vpdq.distance(a, a) == 0

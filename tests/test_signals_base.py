import pytest

from jaga.signals.base import HammingSignalType, InvalidHash


class _Bits16(HammingSignalType):
    name = "bits16"
    size = 2


def test_parse_accepts_hex_and_rejects_wrong_length_and_non_hex() -> None:
    t = _Bits16()
    assert t.parse(" 0xABcd ") == b"\xab\xcd"
    with pytest.raises(InvalidHash, match="4 hex digits"):
        t.parse("abc")
    with pytest.raises(InvalidHash, match="not hexadecimal"):
        t.parse("zzzz")


def test_hamming_distance_counts_differing_bits() -> None:
    t = _Bits16()
    assert t.distance(b"\x00\x00", b"\xff\x01") == 9
    with pytest.raises(InvalidHash):
        t.distance(b"\x00", b"\x00\x00")

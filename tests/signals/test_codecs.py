"""Every signal type's text codec: round trips (hypothesis) and malformed input (typed errors)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

import jaga.signals
from jaga.signals import InvalidHash, UnknownSignalType, get_signal_type, signal_type_names
from jaga.signals.exact import exact_digests

FIXED = {"pdq": 32, "md5": 16, "sha1": 20, "sha256": 32}


def test_importing_the_package_registers_every_signal_type() -> None:
    assert jaga.signals.signal_type_names() == ["md5", "pdq", "sha1", "sha256", "vpdq"]
    assert set(signal_type_names()) >= set(FIXED)
    pdq = get_signal_type("PDQ")
    assert (pdq.size, pdq.kind, pdq.default_threshold) == (32, "perceptual", 31)
    assert get_signal_type("sha-256").name == "sha256"
    assert get_signal_type("vpdq").kind == "perceptual"
    for name in ("md5", "sha1", "sha256"):
        assert get_signal_type(name).kind == "exact"
    with pytest.raises(UnknownSignalType, match="known: md5, pdq"):
        get_signal_type("photodna")


@pytest.mark.parametrize("name", sorted(FIXED))
@given(data=st.data())
def test_fixed_size_codecs_round_trip(name: str, data: st.DataObject) -> None:
    signal_type = get_signal_type(name)
    value = data.draw(st.binary(min_size=FIXED[name], max_size=FIXED[name]))
    text = signal_type.format(value)
    assert text == value.hex()
    assert signal_type.parse(text) == value
    assert signal_type.parse(" 0x" + text.upper() + "\n") == value
    assert signal_type.validate(bytearray(value)) == value
    assert signal_type.distance(value, value) == 0


MALFORMED = [
    "",
    "abc",
    "zz" * 16,
    "g" * 64,
    "0x" + "0" * 62,
    "00" * 33,
    "00" * 16 + "\n" + "00" * 16,
    "f" * 63 + "\u00e9",
]


@pytest.mark.parametrize("name", sorted(FIXED))
@pytest.mark.parametrize("text", MALFORMED)
def test_malformed_hex_raises_invalid_hash_with_one_line(name: str, text: str) -> None:
    with pytest.raises(InvalidHash) as info:
        get_signal_type(name).parse(text)
    message = str(info.value)
    assert "\n" not in message
    assert name in message


@pytest.mark.parametrize("name", sorted(FIXED))
def test_wrong_size_values_are_rejected(name: str) -> None:
    signal_type = get_signal_type(name)
    with pytest.raises(InvalidHash, match="bytes"):
        signal_type.validate(b"\x00" * (FIXED[name] + 1))
    with pytest.raises(InvalidHash):
        signal_type.format(b"")
    with pytest.raises(InvalidHash, match="must be bytes"):
        signal_type.validate("00" * FIXED[name])  # type: ignore[arg-type]


@given(st.binary(max_size=2000))
def test_exact_digests_equal_hashlib(data: bytes) -> None:
    digests = exact_digests(data)
    assert digests == {
        "md5": hashlib.md5(data).digest(),
        "sha1": hashlib.sha1(data).digest(),
        "sha256": hashlib.sha256(data).digest(),
    }


def test_pdq_distance_counts_bits_and_exact_distance_is_equality() -> None:
    pdq = get_signal_type("pdq")
    a = bytes(32)
    b = bytes([0xFF, 0x01]) + bytes(30)
    assert pdq.distance(a, b) == 9
    sha = get_signal_type("sha256")
    assert sha.distance(a, a) == 0
    assert sha.distance(a, b) == 1

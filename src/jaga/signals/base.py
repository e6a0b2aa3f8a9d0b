"""What every signal type is: a name, a fixed-size byte value, a text codec and a distance.

Signals are stored and moved as bytes (32 bytes for PDQ, 16 for MD5...), never as Python objects
per bit, so banks of millions of entries stay compact and the index can pack them into one array.
"""

from __future__ import annotations

import string
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

from jaga.errors import InvalidInput

_HEX_DIGITS = frozenset(string.hexdigits)


class InvalidHash(InvalidInput):
    """A hash string or value that its signal type cannot accept (bad hex, wrong length)."""


class UnknownSignalType(InvalidInput):
    """A signal type name that is not in the registry."""


@dataclass(frozen=True, slots=True)
class Signal:
    """One hash of one piece of content.

    ``quality`` is PDQ's 0-100 confidence (None for exact hashes); ``frame`` and ``timestamp`` are
    set for per-frame hashes of animated images and video; ``variant`` names how the pixels were
    prepared (``""`` for the plain hash, e.g. ``"rot90"`` for a dihedral variant).
    """

    signal_type: str
    value: bytes
    quality: int | None = None
    frame: int | None = None
    timestamp: float | None = None
    variant: str = ""

    @property
    def hex(self) -> str:
        return self.value.hex()


@dataclass(frozen=True, slots=True)
class SignalTypeInfo:
    """Static facts about a signal type, for listings and the API."""

    name: str
    size: int
    kind: str  # "perceptual" (distance-matched) or "exact" (equality-matched)
    default_threshold: int
    aliases: tuple[str, ...] = field(default_factory=tuple)


class SignalType(ABC):
    """A kind of hash. Subclasses set the class variables and implement ``distance``."""

    name: ClassVar[str]
    size: ClassVar[int]  # bytes of one value
    kind: ClassVar[str]  # "perceptual" or "exact"
    default_threshold: ClassVar[int] = 0
    aliases: ClassVar[tuple[str, ...]] = ()

    def parse(self, text: str) -> bytes:
        """Hex text -> bytes, with a one-line error naming the signal type on bad input."""
        cleaned = text.strip().lower()
        if cleaned.startswith("0x"):
            cleaned = cleaned[2:]
        if len(cleaned) != 2 * self.size:
            raise InvalidHash(
                f"{self.name} hash must be {2 * self.size} hex digits, got {len(cleaned)}: "
                f"{_preview(text)!r}"
            )
        if not _HEX_DIGITS.issuperset(cleaned):
            raise InvalidHash(f"{self.name} hash is not hexadecimal: {_preview(text)!r}")
        return bytes.fromhex(cleaned)

    def format(self, value: bytes) -> str:
        return self.validate(value).hex()

    def validate(self, value: bytes) -> bytes:
        if not isinstance(value, bytes | bytearray | memoryview):
            raise InvalidHash(f"{self.name} value must be bytes, got {type(value).__name__}")
        value = bytes(value)
        if len(value) != self.size:
            raise InvalidHash(f"{self.name} value must be {self.size} bytes, got {len(value)}")
        return value

    @abstractmethod
    def distance(self, a: bytes, b: bytes) -> int:
        """0 means identical; larger means further apart."""

    def info(self) -> SignalTypeInfo:
        return SignalTypeInfo(self.name, self.size, self.kind, self.default_threshold, self.aliases)


class HammingSignalType(SignalType):
    """A perceptual hash compared bit by bit."""

    kind = "perceptual"

    def distance(self, a: bytes, b: bytes) -> int:
        a, b = self.validate(a), self.validate(b)
        return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


class ExactSignalType(SignalType):
    """A cryptographic digest: equal or not."""

    kind = "exact"

    def distance(self, a: bytes, b: bytes) -> int:
        return 0 if self.validate(a) == self.validate(b) else 1


def _preview(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "..."

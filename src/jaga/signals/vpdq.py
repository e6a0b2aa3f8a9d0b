"""vPDQ: Meta's video hash -- a PDQ hash per sampled frame, with frame number and timestamp.

Three forms of one video's features:

* text, Meta's line format (what ``vpdq-hash-video`` writes and its sample hashes use), one frame
  per line: ``frame,quality,pdq_hex,timestamp`` with the timestamp in seconds to 3 decimals, e.g.
  ``12,100,e271017837246aac...5c,0.400``;
* packed bytes, the bank-entry value: frame records of 45 bytes, little-endian, no header:
  ``hash`` 32 bytes | ``quality`` uint8 | ``frame`` uint32 | ``timestamp`` float64 seconds;
* :class:`VpdqFeature` objects.

Two videos are compared the way Meta's reference matcher does it: drop duplicate frame hashes and
frames under a quality threshold, then count the share of query frames that have some target
frame within the distance threshold, and the share of target frames that have some query frame.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from jaga.signals.base import InvalidHash, SignalType, _preview
from jaga.signals.pdq import PDQ_THRESHOLD, pdq_hash_frame

#: One packed frame record: hash, quality, frame number, timestamp (little-endian, 45 bytes).
RECORD: Final = struct.Struct("<32sBId")
#: Meta's defaults (python-threatexchange): per-frame distance <= 31, frames of quality >= 50,
#: and a video matches when >= 80% of the query's frames match.
VPDQ_DISTANCE_THRESHOLD: Final = PDQ_THRESHOLD
VPDQ_QUALITY_THRESHOLD: Final = 50
VPDQ_QUERY_MATCH_PERCENT: Final = 80.0
VPDQ_TARGET_MATCH_PERCENT: Final = 0.0
_MAX_FRAME: Final = 2**32 - 1


@dataclass(frozen=True, slots=True)
class VpdqFeature:
    """The PDQ hash of one video frame, where it sits in the video, and how trustworthy it is."""

    hash: bytes  # 32 bytes
    quality: int  # 0-100
    frame: int  # frame number in the decoded stream, from 0
    timestamp: float  # seconds

    @property
    def hex(self) -> str:
        return self.hash.hex()


@dataclass(frozen=True, slots=True)
class VpdqMatch:
    """Percentages (0-100) of each side's usable frames that found a match on the other side."""

    query_percent: float
    target_percent: float

    def is_match(
        self,
        query_threshold: float = VPDQ_QUERY_MATCH_PERCENT,
        target_threshold: float = VPDQ_TARGET_MATCH_PERCENT,
    ) -> bool:
        return self.query_percent >= query_threshold and self.target_percent >= target_threshold


class _Frame(Protocol):
    @property
    def index(self) -> int: ...
    @property
    def timestamp(self) -> float: ...
    @property
    def rgb(self) -> Any: ...


def hash_frames(frames: Iterable[_Frame]) -> list[VpdqFeature]:
    """vPDQ features of decoded frames (anything with ``index``, ``timestamp`` and ``rgb``)."""
    features = []
    for frame in frames:
        value, quality = pdq_hash_frame(frame.rgb)
        features.append(VpdqFeature(value, quality, int(frame.index), float(frame.timestamp)))
    return features


# -- validation ------------------------------------------------------------------------------


def _check(feature: VpdqFeature, where: str) -> VpdqFeature:
    if not isinstance(feature.hash, bytes) or len(feature.hash) != 32:
        raise InvalidHash(f"vpdq {where}: frame hash must be 32 bytes")
    if not 0 <= feature.quality <= 100:
        raise InvalidHash(f"vpdq {where}: quality must be 0-100, got {feature.quality}")
    if not 0 <= feature.frame <= _MAX_FRAME:
        raise InvalidHash(f"vpdq {where}: frame number out of range: {feature.frame}")
    if not math.isfinite(feature.timestamp) or feature.timestamp < 0:
        raise InvalidHash(f"vpdq {where}: timestamp must be finite and >= 0")
    return feature


# -- text (Meta's line format) -------------------------------------------------------------------


def format_line(feature: VpdqFeature) -> str:
    """``frame,quality,hex,timestamp`` with 3 decimals, as Meta's tools write it."""
    return f"{feature.frame},{feature.quality},{feature.hash.hex()},{feature.timestamp:.3f}"


def format_text(features: Iterable[VpdqFeature]) -> str:
    return "".join(format_line(f) + "\n" for f in features)


def _int(text: str, what: str, where: str) -> int:
    text = text.strip()
    if not text.isascii() or not text.isdigit():
        raise InvalidHash(f"vpdq {where}: {what} must be a non-negative integer, got {text!r}")
    return int(text)


def _hex32(text: str, where: str) -> bytes:
    text = text.strip().lower()
    if len(text) != 64:
        raise InvalidHash(
            f"vpdq {where}: frame hash must be 64 hex digits, got {len(text)}: {_preview(text)!r}"
        )
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise InvalidHash(f"vpdq {where}: frame hash is not hexadecimal: {text!r}") from None


def _float(text: str, where: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise InvalidHash(f"vpdq {where}: timestamp is not a number: {text.strip()!r}") from None
    return value


def parse_line(line: str, lineno: int = 1) -> VpdqFeature:
    """One ``frame,quality,hex,timestamp`` line; errors name the line number."""
    where = f"line {lineno}"
    parts = line.strip().split(",")
    if len(parts) != 4:
        raise InvalidHash(
            f"vpdq {where}: expected 'frame,quality,hash,timestamp', got {len(parts)} field(s): "
            f"{_preview(line.strip())!r}"
        )
    frame = _int(parts[0], "frame", where)
    quality = _int(parts[1], "quality", where)
    value = _hex32(parts[2], where)
    return _check(VpdqFeature(value, quality, frame, _float(parts[3], where)), where)


def parse_text(text: str) -> list[VpdqFeature]:
    """Meta's line format (blank lines ignored), or python-threatexchange's JSON list of
    ``"hex,quality,timestamp"`` strings (frames numbered in order), as HMA stores vPDQ."""
    if text.lstrip().startswith("["):
        return _parse_threatexchange_json(text)
    features = [
        parse_line(line, lineno)
        for lineno, line in enumerate(text.splitlines(), start=1)
        if line.strip()
    ]
    if not features:
        raise InvalidHash("vpdq value has no frames")
    return features


def _parse_threatexchange_json(text: str) -> list[VpdqFeature]:
    try:
        items = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidHash(f"vpdq JSON is malformed: {error.msg} at line {error.lineno}") from None
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise InvalidHash("vpdq JSON must be a list of 'hash,quality,timestamp' strings")
    features = []
    for number, item in enumerate(items):
        where = f"item {number + 1}"
        parts = item.split(",")
        if len(parts) != 3:
            raise InvalidHash(f"vpdq {where}: expected 'hash,quality,timestamp', got {item!r}")
        value = _hex32(parts[0], where)
        quality = _int(parts[1], "quality", where)
        features.append(_check(VpdqFeature(value, quality, number, _float(parts[2], where)), where))
    if not features:
        raise InvalidHash("vpdq value has no frames")
    return features


# -- packed bytes (bank-entry values) --------------------------------------------------------------


def pack(features: Iterable[VpdqFeature]) -> bytes:
    """Frame records back to back (see module docs); at least one frame."""
    out = bytearray()
    for number, feature in enumerate(features):
        _check(feature, f"frame record {number + 1}")
        out += RECORD.pack(feature.hash, feature.quality, feature.frame, feature.timestamp)
    if not out:
        raise InvalidHash("vpdq value has no frames")
    return bytes(out)


def unpack(value: bytes) -> list[VpdqFeature]:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise InvalidHash(f"vpdq value must be bytes, got {type(value).__name__}")
    data = bytes(value)
    if not data or len(data) % RECORD.size:
        raise InvalidHash(
            f"vpdq value must be a non-empty multiple of {RECORD.size} bytes, got {len(data)}"
        )
    features = []
    for number, (value32, quality, frame, timestamp) in enumerate(RECORD.iter_unpack(data)):
        feature = VpdqFeature(value32, quality, frame, timestamp)
        features.append(_check(feature, f"frame record {number + 1}"))
    return features


# -- comparison ------------------------------------------------------------------------------------


def _usable(features: Iterable[VpdqFeature], quality_threshold: int) -> list[bytes]:
    """Distinct frame hashes (first occurrence kept) of frames good enough to compare."""
    seen: set[bytes] = set()
    kept = []
    for feature in features:
        if feature.hash in seen:
            continue
        seen.add(feature.hash)
        if feature.quality >= quality_threshold:
            kept.append(feature.hash)
    return kept


def _share_matched(side: list[int], other: list[int], threshold: int) -> float:
    matched = sum(1 for a in side if any((a ^ b).bit_count() <= threshold for b in other))
    return matched * 100.0 / len(side)


def compare(
    query: Sequence[VpdqFeature],
    target: Sequence[VpdqFeature],
    *,
    distance_threshold: int = VPDQ_DISTANCE_THRESHOLD,
    quality_threshold: int = VPDQ_QUALITY_THRESHOLD,
) -> VpdqMatch:
    """Brute-force comparison as in Meta's reference matcher (python-threatexchange).

    A frame matches when some frame on the other side is within ``distance_threshold`` bits
    (inclusive). If either side has no usable frame, both percentages are 0.
    """
    q = [int.from_bytes(h, "big") for h in _usable(query, quality_threshold)]
    t = [int.from_bytes(h, "big") for h in _usable(target, quality_threshold)]
    if not q or not t:
        return VpdqMatch(0.0, 0.0)
    return VpdqMatch(
        _share_matched(q, t, distance_threshold), _share_matched(t, q, distance_threshold)
    )


class VpdqSignalType(SignalType):
    """A whole video's vPDQ features as one value (packed bytes; text = Meta's line format).

    ``size`` is the size of one frame record: values are any positive number of records.
    ``distance`` is the share (0-100, rounded up) of frames -- on the side that matched worse --
    that found no match, so 0 means every usable frame matched and 100 means none did.
    """

    name = "vpdq"
    size = RECORD.size
    kind = "perceptual"
    default_threshold = VPDQ_DISTANCE_THRESHOLD

    def parse(self, text: str) -> bytes:
        if not isinstance(text, str):
            raise InvalidHash(f"vpdq text must be a string, got {type(text).__name__}")
        return pack(parse_text(text))

    def format(self, value: bytes) -> str:
        return format_text(unpack(value))

    def validate(self, value: bytes) -> bytes:
        unpack(value)
        return bytes(value)

    def distance(self, a: bytes, b: bytes) -> int:
        result = compare(unpack(a), unpack(b))
        return math.ceil(100.0 - min(result.query_percent, result.target_percent))

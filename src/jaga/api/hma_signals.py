"""HMA's names and text forms of signals, mapped onto Jaga's signal types.

HMA (Meta's hasher-matcher-actioner, "OpenMediaMatch") names its signal types after
python-threatexchange: ``pdq``, ``video_md5`` and, with the vPDQ extension, ``vpdq``. Jaga's
``md5`` is HMA's ``video_md5`` (an MD5 of the file is the same digest whatever the file holds), and
Jaga's ``sha1``/``sha256``, which HMA lacks, keep their names. Clients written for HMA send and
receive text, so this module also owns the text forms HMA uses:

* PDQ and the digests: lowercase hex;
* vPDQ: a JSON list of ``"<pdq hex>,<quality>,<timestamp>"`` strings, the timestamp written the
  way python-threatexchange writes it (``format(ts, ".3")``);
* match distances: strings -- ``"9"`` for PDQ, ``"-"`` for exact digests, and
  ``"<query %>%[<target %>%]"`` for vPDQ.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Final

from jaga.matching.types import Match
from jaga.signals import vpdq
from jaga.signals.base import InvalidHash, UnknownSignalType
from jaga.signals.pdq import PDQ_THRESHOLD
from jaga.signals.registry import get_signal_type

#: HMA signal type name -> Jaga signal type name, in the order HMA lists them.
HMA_TO_JAGA: Final[Mapping[str, str]] = {
    "pdq": "pdq",
    "video_md5": "md5",
    "vpdq": "vpdq",
    "sha1": "sha1",
    "sha256": "sha256",
}
JAGA_TO_HMA: Final[Mapping[str, str]] = {jaga: hma for hma, jaga in HMA_TO_JAGA.items()}
#: Other names accepted on input (Jaga's own name for the MD5 digest).
_ALIASES: Final[Mapping[str, str]] = {"md5": "video_md5"}

#: HMA content types, the signal types each computes by default, and those it may be asked for.
PHOTO: Final = "photo"
VIDEO: Final = "video"
DEFAULT_TYPES: Final[Mapping[str, tuple[str, ...]]] = {
    PHOTO: ("pdq",),
    VIDEO: ("video_md5", "vpdq"),
}
ALLOWED_TYPES: Final[Mapping[str, frozenset[str]]] = {
    PHOTO: frozenset({"pdq", "video_md5", "sha1", "sha256"}),
    VIDEO: frozenset({"video_md5", "vpdq", "sha1", "sha256"}),
}
#: What python-threatexchange prints for a match without a distance (exact digests).
NO_DISTANCE: Final = "-"
#: python-threatexchange's vPDQ thresholds for comparing two videos.
VPDQ_QUERY_PERCENT: Final = 80.0
VPDQ_TARGET_PERCENT: Final = 0.0


def hma_name(name: str) -> str | None:
    """The canonical HMA name for ``name`` (an HMA name or an accepted alias), or None."""
    name = _ALIASES.get(name, name)
    return name if name in HMA_TO_JAGA else None


def hma_name_of(jaga_type: str) -> str:
    """The HMA name a Jaga signal type is reported under."""
    return JAGA_TO_HMA.get(jaga_type, jaga_type)


def jaga_name(hma: str) -> str:
    """The Jaga signal type behind an HMA name (raises UnknownSignalType for an unknown one)."""
    canonical = hma_name(hma)
    if canonical is None:
        raise UnknownSignalType(f"no such signal type {hma!r}")
    return HMA_TO_JAGA[canonical]


def vpdq_text(features: Iterable[vpdq.VpdqFeature]) -> str:
    """vPDQ features in HMA's text form (a JSON list of compact feature strings)."""
    return json.dumps([f"{f.hash.hex()},{f.quality},{f.timestamp:.3}" for f in features])


def format_value(jaga_type: str, value: bytes) -> str:
    """A stored hash value as HMA writes it."""
    if jaga_type == "vpdq":
        return vpdq_text(vpdq.unpack(value))
    return get_signal_type(jaga_type).format(value)


def parse_value(hma: str, text: object) -> bytes:
    """HMA text of a hash -> Jaga bytes; InvalidHash (or UnknownSignalType) if unacceptable."""
    jaga = jaga_name(hma)
    if not isinstance(text, str):
        raise InvalidHash(f"{hma} hash must be a string, got {type(text).__name__}")
    if not text.strip():
        raise InvalidHash("empty hash")
    return get_signal_type(jaga).parse(text)


def distance_text(match: Match) -> str:
    """A match's distance the way HMA prints it."""
    if match.signal_type == "vpdq":
        query = match.query_percent or 0.0
        target = match.target_percent or 0.0
        return f"{query:.0f}%[{target:.0f}%]"
    if get_signal_type(match.signal_type).kind == "exact":
        return NO_DISTANCE
    return str(match.distance)


def compare(hma: str, left: bytes, right: bytes) -> list[Any]:
    """``[is_match, similarity]`` for two hashes of one type, as HMA's ``/m/compare`` gives it.

    PDQ matches at distance <= 31 (python-threatexchange's fixed threshold, not a bank's);
    exact digests when equal; vPDQ when >= 80% of the left video's frames match.
    """
    jaga = jaga_name(hma)
    if jaga == "vpdq":
        result = vpdq.compare(vpdq.unpack(left), vpdq.unpack(right))
        matched = result.is_match(VPDQ_QUERY_PERCENT, VPDQ_TARGET_PERCENT)
        return [
            matched,
            {
                "query_match_percent": result.query_percent,
                "compared_match_percent": result.target_percent,
            },
        ]
    st = get_signal_type(jaga)
    distance = st.distance(left, right)
    if st.kind == "exact":
        return [distance == 0, {}]
    return [distance <= PDQ_THRESHOLD, {"distance": distance}]

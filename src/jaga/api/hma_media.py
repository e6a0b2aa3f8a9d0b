"""Hashing for the HMA routes: which signal types a request asks for, and their HMA text forms.

HMA decides what to compute from a *content type* (``photo`` or ``video``: the multipart field
name of an upload, the ``content_type`` parameter, or the ``Content-Type`` a URL answered with)
and an optional ``types`` list. Jaga follows that choice, then hashes with its own pipeline.

What comes back per signal type is the first frame's plain hash (HMA's one value per type), plus,
for look-ups, every signal Jaga computed: all frames of an animation and the orientations and
variants the service is configured to match (see :mod:`jaga.signals.variants`), so a look-up
of a rotated, mirrored or cropped copy still matches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from jaga.api.hma_http import HmaError
from jaga.api.hma_signals import (
    ALLOWED_TYPES,
    DEFAULT_TYPES,
    HMA_TO_JAGA,
    PHOTO,
    VIDEO,
    hma_name,
    hma_name_of,
    vpdq_text,
)
from jaga.media import sniff_kind
from jaga.signals import vpdq
from jaga.signals.base import Signal
from jaga.signals.hashing import HashOptions, hash_bytes
from jaga.signals.pdq import PDQ_MIN_QUALITY

CONTENT_TYPES = (PHOTO, VIDEO)


@dataclass(frozen=True)
class HmaHashes:
    """One piece of media hashed for HMA.

    ``texts``: HMA signal type -> text (what ``/h/hash`` answers; PDQ under quality 50 is ``""``
    as in HMA). ``values``: HMA signal type -> the value to bank (only the usable ones).
    ``signals``: every Jaga signal, for matching (purpose "lookup").
    """

    texts: dict[str, str] = field(default_factory=dict)
    values: dict[str, bytes] = field(default_factory=dict)
    signals: tuple[Signal, ...] = ()
    #: Bank-side PDQ variants (name, value) to store with the PDQ entry (purpose "bank").
    variants: tuple[tuple[str, bytes], ...] = ()


def check_content_type(name: str) -> str:
    if name not in CONTENT_TYPES:
        raise HmaError(400, f"no such content_type: '{name}'")
    return name


def content_type_from_header(header: str | None, data: bytes) -> str:
    """HMA's rule (``image/*`` is a photo, ``video/*`` a video), else the bytes decide."""
    value = (header or "").lower()
    if value.startswith("image"):
        return PHOTO
    if value.startswith("video"):
        return VIDEO
    return VIDEO if sniff_kind(data) == "video" else PHOTO


def select_types(content_type: str, types: str | None) -> tuple[str, ...]:
    """The HMA signal types to compute: ``types`` (comma-separated) or the content type's."""
    if types is None:
        return DEFAULT_TYPES[content_type]
    chosen: list[str] = []
    for raw in types.split(","):
        name = raw.strip()
        if not name:
            continue
        canonical = hma_name(name)
        if canonical is None or canonical not in ALLOWED_TYPES[content_type]:
            raise HmaError(400, f"signal type '{name}' doesn't exist or is disabled")
        if canonical not in chosen:
            chosen.append(canonical)
    if not chosen:
        raise HmaError(400, "empty signal type selection")
    return tuple(chosen)


def hash_media(
    data: bytes,
    hma_types: Sequence[str],
    options: HashOptions,
    *,
    purpose: str = "hash",
    bank_variants: bool = False,
) -> HmaHashes:
    """Hash ``data`` for the given HMA signal types, for one ``purpose``:

    * ``"hash"`` (``/h/hash``) and ``"bank"`` (banking content): full-resolution decoding, so a
      PDQ hash is bit for bit the reference's (what HMA computes); no orientations or variants.
      ``bank_variants`` (for known-material banks, as ``jaga bank add`` does) also computes the
      PDQ hashes of crops and borderless copies, stored as variant rows of the PDQ entry.
    * ``"lookup"``: the service's own options (its fast path, orientations and query variants);
      every signal is kept for matching.
    """
    wanted = tuple(HMA_TO_JAGA[name] for name in hma_types)
    if purpose == "lookup":
        opts = replace(options, signal_types=wanted, bank_variants=False)
    else:
        opts = replace(
            options,
            signal_types=wanted,
            exact=True,
            dihedral=False,
            variants=False,
            bank_variants=bank_variants and purpose == "bank" and "pdq" in wanted,
        )
    hashed = hash_bytes(data, opts)
    texts: dict[str, str] = {}
    values: dict[str, bytes] = {}
    for jaga_type in wanted:
        found = hashed.of_type(jaga_type)
        if not found:
            continue
        name = hma_name_of(jaga_type)
        if jaga_type == "vpdq":
            packed = hashed.vpdq_value()
            assert packed is not None
            texts[name] = vpdq_text(vpdq.unpack(packed))
            values[name] = packed
            continue
        first = next((s for s in found if not s.variant), found[0])
        if jaga_type == "pdq" and (first.quality or 0) < PDQ_MIN_QUALITY:
            texts[name] = ""  # HMA's PdqSignal answers "" for a hash too weak to match on
            continue
        texts[name] = first.hex
        values[name] = first.value
    if not texts:
        kinds = "/".join(hma_types)
        raise HmaError(400, f"could not compute {kinds} for this {hashed.kind}")
    signals = hashed.signals if purpose == "lookup" else ()
    variants = tuple((s.variant, s.value) for s in hashed.bank_variants if s.variant)
    return HmaHashes(texts, values, signals, variants)

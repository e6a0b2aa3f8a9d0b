"""Media bytes -> every requested signal: the one hashing function behind the CLI, scans and API.

Images get one PDQ hash per frame (one for a still image, one per frame of an animated GIF, WebP
or PNG), optionally with the seven other orientations; videos get vPDQ (a PDQ hash per sampled
frame); both get the exact digests of the original bytes.

Two PDQ modes:

* fast path (default): JPEGs are decoded by libjpeg at a reduced DCT scale (1/2, 1/4 or 1/8) that
  keeps the short side >= ``fast_min_side`` pixels. PDQ blurs the image down to 64x64 anyway, so
  the hash barely moves, while decoding a 12 MP photo gets about five times faster. Other formats
  decode at full size. The default of 1024 keeps the median distance to the exact hash at about 2
  bits; 512 decodes faster still but doubles it (benchmarks/pdq_fastpath.py measures both).
* exact (``HashOptions(exact=True)``): full-resolution decode; the hash is identical, bit for bit,
  to Meta's reference on the same pixels.

Signal variants (:mod:`jaga.signals.variants`), for still images only:

* ``HashOptions(variants=True)``: the query side. Extra PDQ signals of prepared pixels (the image
  turned and mirrored for real, central crops, without its border, the photo inside a
  screenshot, a small rotation undone), each named by ``Signal.variant``. Matching looks every
  one up, so edited copies match banks that hold only the plain hash. With ``dihedral`` too, the
  shortcut hashes of the orientations the real ones cover are dropped (they found nothing more
  on the benchmark corpus): what stays is ``flipx``, ``flip_plus1`` and ``flip_minus1``.
* ``HashOptions(bank_variants=True)``: the bank side, for adding known media to a bank. The
  hashes of central crops, the trimmed image and the centred square go into
  :attr:`ContentHashes.bank_variants` (not ``signals``: they are not for lookups).

Both leave ``signals``' plain hashes exactly as without them. Variants under PDQ quality 50 and
hashes equal to one already given are dropped. Animated images and video get none: one set per
frame would multiply the cost by the frame count.

Media errors propagate as the typed errors of :mod:`jaga.media` (UnsupportedMedia, CorruptMedia,
MediaTooLarge...).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Final

from jaga.errors import InvalidInput
from jaga.media import (
    DEFAULT_LIMITS,
    DecodedImage,
    MediaLimits,
    decode_image,
    iter_video_frames,
    probe_video,
    read_source,
    sniff_kind,
)
from jaga.signals.base import Signal
from jaga.signals.exact import EXACT_ALGORITHMS, exact_digests
from jaga.signals.pdq import DIHEDRAL_VARIANTS, pdq_hash, pdq_hash_dihedral
from jaga.signals.registry import get_signal_type
from jaga.signals.variants import (
    DEFAULT_CONFIG,
    MIN_GEOMETRY_SIDE,
    SHORTCUT_FOR,
    VariantConfig,
    bank_variants,
    query_variants,
)
from jaga.signals.vpdq import VpdqFeature, hash_frames, pack

ALL_SIGNAL_TYPES: Final = ("pdq", "vpdq", "md5", "sha1", "sha256")
IMAGE_SIGNAL_TYPES: Final = frozenset({"pdq", *EXACT_ALGORITHMS})
VIDEO_SIGNAL_TYPES: Final = frozenset({"vpdq", *EXACT_ALGORITHMS})


@dataclass(frozen=True)
class HashOptions:
    """What to compute. ``signal_types`` lists the wanted types; each applies where it can:
    pdq to images, vpdq to video, the exact digests to everything."""

    signal_types: tuple[str, ...] = ALL_SIGNAL_TYPES
    exact: bool = False  # True: full-resolution decode, PDQ identical to the reference
    fast_min_side: int = 1024  # fast path: smallest short side of a reduced JPEG decode
    dihedral: bool = False  # also the 7 other orientations of each PDQ hash (Signal.variant)
    video_fps: float | None = 1.0  # vPDQ frames per second of video; None: every frame
    limits: MediaLimits = DEFAULT_LIMITS
    #: Query-side signal variants of still images, as extra pdq signals (module docstring).
    variants: bool = False
    #: Bank-side variants of still images, into ContentHashes.bank_variants.
    bank_variants: bool = False
    #: Which variants either side computes.
    variant_config: VariantConfig = DEFAULT_CONFIG

    def __post_init__(self) -> None:
        # Canonical names (aliases resolved, unknown names rejected) in the order given.
        names: list[str] = []
        for name in self.signal_types:
            canonical = get_signal_type(name).name
            if canonical not in names:
                names.append(canonical)
        object.__setattr__(self, "signal_types", tuple(names))
        if self.fast_min_side < 1:
            raise InvalidInput(f"fast_min_side must be >= 1, got {self.fast_min_side}")
        if self.video_fps is not None and not self.video_fps > 0:
            raise InvalidInput(f"video_fps must be > 0 or None, got {self.video_fps}")


@dataclass(frozen=True)
class ContentHashes:
    """Every signal of one piece of content, with what the decoder learned about it."""

    kind: str  # "image" | "video"
    size: int  # bytes
    format: str  # e.g. "JPEG", "GIF", "mp4"
    width: int
    height: int
    # Frames in the file. Video: the container's count, or the decoded count with video_fps=None
    # (0 when neither is known).
    frame_count: int
    signals: tuple[Signal, ...] = field(default_factory=tuple)
    #: With ``HashOptions(bank_variants=True)``: the pdq hashes to store as variant rows of the
    #: image's bank entry (``Signal.variant`` names each: ``"crop:8"``, ``"trim"``...).
    bank_variants: tuple[Signal, ...] = field(default_factory=tuple)

    def of_type(self, signal_type: str) -> tuple[Signal, ...]:
        return tuple(s for s in self.signals if s.signal_type == signal_type)

    def vpdq_value(self) -> bytes | None:
        """The video's vPDQ features packed as one bank-entry value (None if there are none)."""
        frames = self.of_type("vpdq")
        if not frames:
            return None
        return pack(
            VpdqFeature(s.value, s.quality or 0, s.frame or 0, s.timestamp or 0.0) for s in frames
        )


def hash_bytes(data: bytes, options: HashOptions = HashOptions()) -> ContentHashes:
    """Hash media given as bytes (image or video, detected from the content)."""
    kind = sniff_kind(data)
    if kind == "video":
        return _hash_video(data, options)
    return _hash_image(data, options)


def hash_path(path: str | os.PathLike[str], options: HashOptions = HashOptions()) -> ContentHashes:
    """Hash the media file at ``path`` (read within the size limit of ``options.limits``)."""
    return hash_bytes(read_source(os.fspath(path), options.limits), options)


def _exact_signals(data: bytes, wanted: tuple[str, ...]) -> list[Signal]:
    names = [n for n in wanted if n in EXACT_ALGORITHMS]
    digests = exact_digests(data, names)
    return [Signal(name, digests[name]) for name in names]


def _hash_image(data: bytes, options: HashOptions) -> ContentHashes:
    wanted = tuple(n for n in options.signal_types if n in IMAGE_SIGNAL_TYPES)
    want_pdq = "pdq" in wanted
    # Without PDQ the decode only validates the file and reads its size: one frame, smallest scale.
    decoded = decode_image(
        data,
        limits=options.limits,
        min_side=None
        if (options.exact and want_pdq)
        else (options.fast_min_side if want_pdq else 1),
        apply_exif=True,
        all_frames=want_pdq,
    )
    signals: list[Signal] = []
    bank: list[Signal] = []
    for name in wanted:
        if name == "pdq":
            pdq_signals, bank = _pdq_signals(decoded, options)
            signals.extend(pdq_signals)
        else:
            signals.extend(_exact_signals(data, (name,)))
    return ContentHashes(
        kind="image",
        size=len(data),
        format=decoded.format,
        width=decoded.width,
        height=decoded.height,
        frame_count=decoded.frame_count,
        signals=tuple(signals),
        bank_variants=tuple(bank),
    )


def _pdq_signals(decoded: DecodedImage, options: HashOptions) -> tuple[list[Signal], list[Signal]]:
    """The pdq signals of every frame, and the bank-side variants (still images only)."""
    signals: list[Signal] = []
    bank: list[Signal] = []
    elapsed_ms = 0.0
    config = options.variant_config
    for frame in decoded.frames:
        frame_no = frame.index if decoded.animated else None
        timestamp = elapsed_ms / 1000.0 if decoded.animated else None
        # Variants need room for their geometry (smaller images get only the plain hash).
        still = not decoded.animated and min(frame.rgb.shape[:2]) >= MIN_GEOMETRY_SIDE
        query_side = options.variants and still
        if options.dihedral:
            values, quality = pdq_hash_dihedral(frame.rgb)
            plain = (values[0], quality)
            covered = {SHORTCUT_FOR[n] for n in config.orientations} if query_side else set()
            signals.extend(
                Signal("pdq", value, quality, frame_no, timestamp, variant)
                for value, variant in zip(values, DIHEDRAL_VARIANTS, strict=True)
                if variant not in covered
            )
        else:
            plain = pdq_hash(frame.rgb)
            signals.append(Signal("pdq", plain[0], plain[1], frame_no, timestamp))
        if query_side:
            signals.extend(_query_variant_signals(frame.rgb, config, plain, signals))
        if options.bank_variants and still:
            bank.extend(
                Signal("pdq", v.value, v.quality, variant=v.name)
                for v in bank_variants(frame.rgb, config, plain=plain)
                if v.name and v.value != plain[0]
            )
        elapsed_ms += float(frame.duration_ms or 0)
    return signals, bank


def _query_variant_signals(
    rgb: object, config: VariantConfig, plain: tuple[bytes, int], given: list[Signal]
) -> list[Signal]:
    """The query-side variants that are not the plain hash or a hash already in ``given``."""
    seen = {s.value for s in given}
    out: list[Signal] = []
    for variant in query_variants(rgb, replace(config, dihedral=False), plain=plain):
        if variant.name and variant.value not in seen:
            seen.add(variant.value)
            out.append(Signal("pdq", variant.value, variant.quality, variant=variant.name))
    return out


def _hash_video(data: bytes, options: HashOptions) -> ContentHashes:
    wanted = tuple(n for n in options.signal_types if n in VIDEO_SIGNAL_TYPES)
    info = probe_video(data, limits=options.limits)
    signals: list[Signal] = []
    frame_count = info.frame_count or 0
    for name in wanted:
        if name == "vpdq":
            frames = iter_video_frames(data, fps=options.video_fps, limits=options.limits)
            features = hash_frames(frames)
            if options.video_fps is None:
                frame_count = len(features)  # every frame decoded: the true count
            signals.extend(
                Signal("vpdq", f.hash, f.quality, f.frame, f.timestamp) for f in features
            )
        else:
            signals.extend(_exact_signals(data, (name,)))
    return ContentHashes(
        kind="video",
        size=len(data),
        format=info.format,
        width=info.width,
        height=info.height,
        frame_count=frame_count,
        signals=tuple(signals),
    )

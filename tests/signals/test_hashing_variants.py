"""Signal variants in the hashing pipeline: query side as extra signals, bank side apart, and
nothing changed when they are off."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from jaga.media import decode_image
from jaga.signals.hashing import HashOptions, hash_bytes
from jaga.signals.pdq import DIHEDRAL_VARIANTS, pdq_hash, pdq_hash_dihedral
from jaga.signals.variants import SHORTCUT_FOR, VariantConfig, bank_variants, query_variants

QUERY_FAMILIES = ("turn", "mirror", "crop:", "trim", "frame", "derot")
BANK_NAMES = {"trim", "square"} | {f"crop:{p}" for p in (4, 8, 12, 16, 20)}


def _picture(seed: int, width: int = 360, height: int = 240) -> Image.Image:
    rng = np.random.default_rng(seed)
    base = rng.random((6, 9, 3)).astype(np.float32)
    layers = [
        np.asarray(Image.fromarray(base[..., c]).resize((width, height), Image.Resampling.BICUBIC))
        for c in range(3)
    ]
    field = np.stack(layers, axis=-1)
    image = Image.fromarray((40 + 175 * (field - field.min()) / np.ptp(field)).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        x, y = rng.uniform(-0.1, 1.0) * width, rng.uniform(-0.1, 1.0) * height
        w, h = rng.uniform(0.05, 0.3) * width, rng.uniform(0.05, 0.3) * height
        draw.ellipse((x, y, x + w, y + h), fill=tuple(int(v) for v in rng.integers(20, 235, 3)))
    return image


def _encode(image: Image.Image, fmt: str = "PNG", **params: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def _pixels(data: bytes) -> Any:
    return decode_image(data, apply_exif=True, min_side=None).frames[0].rgb


@pytest.fixture(scope="module")
def png() -> bytes:
    return _encode(_picture(1))


def test_variants_are_off_by_default() -> None:
    options = HashOptions()
    assert (options.variants, options.bank_variants) == (False, False)


def test_query_variants_are_extra_pdq_signals(png: bytes) -> None:
    plain = hash_bytes(png, HashOptions())
    hashes = hash_bytes(png, HashOptions(variants=True))
    pdq = hashes.of_type("pdq")
    # The plain signal and the exact digests are those of plain hashing, first and unchanged.
    assert pdq[0] == plain.of_type("pdq")[0]
    assert [s for s in hashes.signals if s.signal_type != "pdq"] == [
        s for s in plain.signals if s.signal_type != "pdq"
    ]
    extra = pdq[1:]
    assert extra, "a 360x240 photo-like image has variants"
    assert all(s.variant.startswith(QUERY_FAMILIES) for s in extra)
    values = [s.value for s in pdq]
    assert len(set(values)) == len(values)  # no hash twice, none equal to the plain one
    assert all((s.quality or 0) >= 50 for s in extra)
    assert all(s.frame is None for s in pdq)
    # The same hashes query_variants gives for the decoded pixels.
    expected = [(v.name, v.value) for v in query_variants(_pixels(png))]
    assert [(s.variant, s.value) for s in pdq] == expected
    assert hashes.bank_variants == ()


def test_with_dihedral_only_the_uncovered_shortcut_hashes_stay(png: bytes) -> None:
    hashes = hash_bytes(png, HashOptions(variants=True, dihedral=True))
    names = [s.variant for s in hashes.of_type("pdq")]
    covered = {SHORTCUT_FOR[n] for n in VariantConfig().orientations}
    assert covered == {"rot90", "rot180", "rot270", "flipy"}
    assert names[:4] == ["", "flipx", "flip_plus1", "flip_minus1"]
    assert not covered & set(names)
    assert {"turn90", "turn180", "turn270", "mirror"} <= set(names)
    shortcut = dict(zip(DIHEDRAL_VARIANTS, pdq_hash_dihedral(_pixels(png))[0], strict=True))
    assert {s.variant: s.value for s in hashes.of_type("pdq")[:4]} == {
        n: shortcut[n] for n in names[:4]
    }
    # Without variants the eight shortcut hashes are all there, as before.
    alone = hash_bytes(png, HashOptions(dihedral=True))
    assert [s.variant for s in alone.of_type("pdq")] == list(DIHEDRAL_VARIANTS)


def test_bank_variants_go_apart_from_the_signals(png: bytes) -> None:
    plain = hash_bytes(png, HashOptions(exact=True))
    hashes = hash_bytes(png, HashOptions(exact=True, bank_variants=True))
    assert hashes.signals == plain.signals  # nothing to look up changes
    names = [s.variant for s in hashes.bank_variants]
    assert names
    assert set(names) <= BANK_NAMES
    assert all(
        s.signal_type == "pdq" and s.value != plain.signals[0].value for s in hashes.bank_variants
    )
    expected = [(v.name, v.value) for v in bank_variants(_pixels(png)) if v.name]
    assert [(s.variant, s.value) for s in hashes.bank_variants] == expected
    # Only with PDQ asked for.
    digests = hash_bytes(png, HashOptions(signal_types=("md5",), bank_variants=True))
    assert digests.bank_variants == ()


def test_animations_and_small_images_get_no_variants() -> None:
    frames = [_picture(seed, 160, 120).quantize(64) for seed in (3, 4)]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    options = HashOptions(variants=True, bank_variants=True)
    animated = hash_bytes(out.getvalue(), options)
    assert [s.variant for s in animated.of_type("pdq")] == ["", ""]  # one per frame
    assert animated.bank_variants == ()
    small = hash_bytes(_encode(_picture(5, 60, 48)), options)
    assert [s.variant for s in small.of_type("pdq")] == [""]
    assert small.bank_variants == ()


def test_a_flat_image_keeps_its_plain_hash_and_gets_no_variants() -> None:
    flat = _encode(Image.new("RGB", (200, 150), (90, 90, 90)))
    hashes = hash_bytes(flat, HashOptions(variants=True, bank_variants=True))
    (signal,) = hashes.of_type("pdq")
    assert (signal.variant, signal.value) == ("", pdq_hash(_pixels(flat))[0])
    assert (signal.quality or 0) < 50  # unusable, as before; the matcher skips it
    assert hashes.bank_variants == ()


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    width=st.integers(8, 400),
    height=st.integers(8, 300),
    dihedral=st.booleans(),
    fmt=st.sampled_from(["PNG", "JPEG"]),
)
def test_plain_signals_are_the_same_with_variants_on_or_off(
    seed: int, width: int, height: int, dihedral: bool, fmt: str
) -> None:
    """Regression: turning variants off gives exactly what hashing gave before them, and
    turning them on only adds signals (the dihedral shortcut's covered names aside)."""
    data = _encode(_picture(seed, width, height), fmt)
    off = hash_bytes(data, HashOptions(dihedral=dihedral))
    rgb = _pixels(data) if fmt == "PNG" else None
    if rgb is not None:  # before variants: pdq of the decode (+ dihedral), then the digests
        if dihedral:
            values = pdq_hash_dihedral(rgb)[0]
            expected = list(zip(DIHEDRAL_VARIANTS, values, strict=True))
        else:
            expected = [("", pdq_hash(rgb)[0])]
        assert [(s.variant, s.value) for s in off.of_type("pdq")] == expected
    on = hash_bytes(data, HashOptions(dihedral=dihedral, variants=True, bank_variants=True))
    covered = {SHORTCUT_FOR[n] for n in VariantConfig().orientations}
    kept = [s for s in on.signals if s.variant in DIHEDRAL_VARIANTS]
    assert kept == [s for s in off.signals if s.variant not in covered or min(width, height) < 64]
    assert (on.kind, on.format, on.width, on.height) == (
        off.kind,
        off.format,
        off.width,
        off.height,
    )

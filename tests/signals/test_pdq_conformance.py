"""The C PDQ core against Meta's reference (the pdqhash binding): same bits, same quality.

Images are generated here in many sizes, contents and Pillow modes, plus every photo shipped in the
scikit-image wheel. For the float-luma variant used by vPDQ (which pdqhash cannot compute) a
NumPy transcription of the reference algorithm serves as the oracle; it is itself checked against
pdqhash first.
"""

from __future__ import annotations

import importlib.resources
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pdqhash
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from jaga.signals import _pdq
from jaga.signals.pdq import (
    DIHEDRAL_VARIANTS,
    InvalidPixels,
    pdq_hash,
    pdq_hash_dihedral,
    pdq_hash_frame,
)

RGB = np.ndarray[Any, np.dtype[np.uint8]]


def reference_bytes(bit_vector: Any) -> bytes:
    """pdqhash returns 256 bits, most significant first (bit 255 .. bit 0): packing them gives
    the bytes of the reference's hex string, which is what Jaga stores."""
    return np.packbits(np.asarray(bit_vector, dtype=np.uint8)).tobytes()


def reference(rgb: RGB) -> tuple[bytes, int]:
    bits, quality = pdqhash.compute(rgb)
    return reference_bytes(bits), int(quality)


def reference_dihedral(rgb: RGB) -> tuple[list[bytes], int]:
    vectors, quality = pdqhash.compute_dihedral(rgb)
    return [reference_bytes(v) for v in vectors], int(quality)


# -- generated images ------------------------------------------------------------------------


def _noise(h: int, w: int, seed: int) -> RGB:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _gradient(h: int, w: int, seed: int) -> RGB:
    y = np.linspace(0, 255, h)[:, None, None]
    x = np.linspace(0, 255, w)[None, :, None]
    c = np.array([1.0, 0.6, 0.3])[None, None, :]
    jitter = np.random.default_rng(seed).normal(0, 3, (h, w, 3))
    return np.clip(y * c + x * (1 - c) + jitter, 0, 255).astype(np.uint8)


def _shapes(h: int, w: int, seed: int) -> RGB:
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (w, h), tuple(int(v) for v in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x0, x1 = sorted(int(v) for v in rng.integers(0, max(w, 1), 2))
        y0, y1 = sorted(int(v) for v in rng.integers(0, max(h, 1), 2))
        color = tuple(int(v) for v in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.rectangle((x0, y0, x1, y1), fill=color)
        else:
            draw.ellipse((x0, y0, x1, y1), fill=color)
    return np.asarray(image)


def _flat(h: int, w: int, seed: int) -> RGB:
    return np.full((h, w, 3), (seed * 37) % 256, dtype=np.uint8)


def _text(h: int, w: int, seed: int) -> RGB:
    image = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(image)
    for line in range(0, h, 12):
        draw.text((2, line), f"Jaga {seed} line {line} the quick brown fox", fill=(0, 0, 0))
    return np.asarray(image)


CONTENTS: dict[str, Callable[[int, int, int], RGB]] = {
    "noise": _noise,
    "gradient": _gradient,
    "shapes": _shapes,
    "flat": _flat,
    "text": _text,
}

SIZES = [
    (1, 1), (2, 3), (4, 4), (4, 9), (5, 5), (5, 7), (7, 5), (8, 8), (9, 16), (16, 9),
    (17, 31), (31, 17), (63, 64), (64, 63), (64, 64), (65, 64), (64, 65), (100, 37),
    (37, 100), (127, 128), (128, 128), (129, 130), (255, 256), (211, 333), (333, 211),
    (300, 1), (1, 300), (3, 500), (500, 3), (512, 768), (768, 512), (1000, 61), (61, 1000),
]  # fmt: skip

CASES = [
    pytest.param(content, h, w, id=f"{content}-{h}x{w}") for content in CONTENTS for h, w in SIZES
] + [
    pytest.param("noise", 1700, 2500, id="noise-1700x2500"),
    pytest.param("shapes", 2500, 1700, id="shapes-2500x1700"),
]

MODES = ["1", "L", "LA", "P", "PA", "RGBA", "CMYK", "YCbCr", "I", "F", "LAB", "HSV"]


def _in_mode(mode: str, h: int, w: int, seed: int) -> RGB:
    """An image generated natively in ``mode`` (random bands), then Pillow's RGB conversion."""
    rng = np.random.default_rng(seed)
    smooth = _gradient(h, w, seed)
    if mode in ("I", "F"):
        data = smooth[..., 0].astype(np.int32 if mode == "I" else np.float32) * 3 - 100
        image = Image.fromarray(data, mode=None)
    elif mode == "1":
        image = Image.fromarray(smooth[..., 0] > 127)
    elif mode in ("P", "PA"):
        image = Image.fromarray(smooth).quantize(32)
        if mode == "PA":
            image = image.convert("PA")
            image.putalpha(Image.fromarray(smooth[..., 1]))
    else:
        bands = len(Image.new(mode, (1, 1)).getbands())
        data = np.concatenate(
            [smooth, rng.integers(0, 256, (h, w, max(0, bands - 3)), dtype=np.uint8)], axis=2
        )[..., :bands]
        image = Image.frombytes(mode, (w, h), np.ascontiguousarray(data).tobytes())
    assert image.mode == mode or (mode in ("I", "F") and image.mode in ("I", "F", "I;16"))
    return np.asarray(image.convert("RGB"))


MODE_CASES = [
    pytest.param(mode, h, w, id=f"{mode}-{h}x{w}")
    for mode in MODES
    for h, w in [(6, 6), (40, 90), (128, 96), (257, 130), (480, 640)]
]


def _skimage_photos() -> list[Path]:
    root = importlib.resources.files("skimage") / "data"
    return sorted(Path(str(p)) for p in root.iterdir() if p.name.endswith((".png", ".jpg")))


SKIMAGE = [pytest.param(p, id=p.name) for p in _skimage_photos()]


def _assert_conforms(rgb: RGB) -> None:
    rgb = np.ascontiguousarray(rgb)
    assert pdq_hash(rgb) == reference(rgb)
    assert pdq_hash_dihedral(rgb) == reference_dihedral(rgb)


@pytest.mark.parametrize(("content", "h", "w"), CASES)
def test_generated_images_hash_exactly_like_the_reference(content: str, h: int, w: int) -> None:
    _assert_conforms(CONTENTS[content](h, w, h * 1000 + w))


@pytest.mark.parametrize(("mode", "h", "w"), MODE_CASES)
def test_every_pillow_mode_hashes_exactly_like_the_reference(mode: str, h: int, w: int) -> None:
    _assert_conforms(_in_mode(mode, h, w, len(mode) * 7 + h))


@pytest.mark.parametrize("path", SKIMAGE)
def test_scikit_image_photos_hash_exactly_like_the_reference(path: Path) -> None:
    with Image.open(path) as image:
        _assert_conforms(np.asarray(image.convert("RGB")))


def test_there_are_enough_conformance_cases() -> None:
    assert len(CASES) + len(MODE_CASES) + len(SKIMAGE) >= 200
    assert len(SKIMAGE) >= 20


def test_flat_images_have_quality_zero_and_tiny_ones_hash_to_zero() -> None:
    assert pdq_hash(_flat(300, 200, 3))[1] == 0
    assert pdq_hash(_noise(4, 100, 1)) == (bytes(32), 0)
    hashes, quality = pdq_hash_dihedral(_noise(100, 4, 1))
    assert hashes == [bytes(32)] * 8
    assert quality == 0


def test_dihedral_hashes_are_the_hashes_of_the_transformed_images() -> None:
    # Not bit-identical (the blur is not orientation-symmetric at the edges), but each variant is
    # a match for its transformed image and far from the seven others: this pins the names.
    rgb = _shapes(240, 320, 5)
    hashes, _ = pdq_hash_dihedral(rgb)
    transformed = {
        "": rgb,
        "rot90": np.rot90(rgb, 1),  # counter-clockwise, as the reference names it
        "rot180": np.rot90(rgb, 2),
        "rot270": np.rot90(rgb, 3),
        "flipx": rgb[::-1],
        "flipy": rgb[:, ::-1],
        "flip_plus1": rgb.transpose(1, 0, 2),
        "flip_minus1": np.rot90(rgb, 2).transpose(1, 0, 2),
    }
    direct = {name: int.from_bytes(pdq_hash(t)[0], "big") for name, t in transformed.items()}
    for variant, value in zip(DIHEDRAL_VARIANTS, hashes, strict=True):
        distances = {n: (h ^ int.from_bytes(value, "big")).bit_count() for n, h in direct.items()}
        assert min(distances, key=lambda n: distances[n]) == variant
        assert distances[variant] <= 31


def test_non_contiguous_input_is_accepted_and_hashes_the_same_pixels() -> None:
    rgb = _shapes(200, 300, 9)
    view = np.asfortranarray(rgb)
    assert pdq_hash(view) == reference(np.ascontiguousarray(rgb))
    assert pdq_hash(rgb[::2, ::3]) == reference(np.ascontiguousarray(rgb[::2, ::3]))


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((10, 10), np.uint8),
        np.zeros((10, 10, 4), np.uint8),
        np.zeros((10, 10, 3), np.float32),
        np.zeros((10, 10, 3), np.uint16),
        np.zeros((2, 10, 10, 3), np.uint8),
    ],
    ids=["2d", "4-channels", "float32", "uint16", "4d"],
)
def test_bad_pixels_raise_a_typed_error(bad: Any) -> None:
    for function in (pdq_hash, pdq_hash_dihedral, pdq_hash_frame):
        with pytest.raises(InvalidPixels) as info:
            function(bad)
        assert "\n" not in str(info.value)


def test_the_c_core_rejects_bad_buffers_with_value_error() -> None:
    channels_apart = np.zeros((8, 8, 6), np.uint8)[:, :, ::2]  # R, G, B not adjacent
    for bad in ([1, 2, 3], b"abc", channels_apart, np.zeros((8, 8, 3), np.uint8)[:, :, ::-1]):
        with pytest.raises(ValueError, match="expected"):
            _pdq.hash(bad)


VIEWS: dict[str, Callable[[RGB], RGB]] = {
    "turn90": lambda a: np.rot90(a, 1),
    "turn180": lambda a: np.rot90(a, 2),
    "turn270": lambda a: np.rot90(a, 3),
    "mirror": lambda a: a[:, ::-1],
    "flip": lambda a: a[::-1],
    "transpose": lambda a: a.transpose(1, 0, 2),
    "crop": lambda a: a[3:-2, 4:-1],
    "every_other_column_turned": lambda a: np.rot90(a)[:, ::2],
}


@given(
    h=st.integers(5, 140),
    w=st.integers(5, 140),
    seed=st.integers(0, 2**16),
    view=st.sampled_from(sorted(VIEWS)),
)
@settings(max_examples=120, deadline=None)
def test_the_c_core_hashes_strided_views_in_place_exactly(
    h: int, w: int, seed: int, view: str
) -> None:
    """Turned, mirrored and cropped views go to the C core without a copy (it follows their
    strides, even negative ones); every entry point must hash them exactly as the reference
    hashes the same pixels packed."""
    pixels = VIEWS[view](_shapes(h, w, seed) if seed % 2 else _noise(h, w, seed))
    if min(pixels.shape[:2]) < 5:
        return
    packed = np.ascontiguousarray(pixels)
    assert _pdq.hash(pixels) == reference(packed)
    assert _pdq.hash_dihedral(pixels) == _pdq.hash_dihedral(packed)
    assert _pdq.hash_frame(pixels) == _pdq.hash_frame(packed)


def test_a_64x64_view_takes_the_reference_unblurred_path_too() -> None:
    rgb = _shapes(64, 64, 5)
    for make in VIEWS.values():
        view = make(rgb)
        if view.shape[:2] == (64, 64):
            assert _pdq.hash(view) == reference(np.ascontiguousarray(view))


def test_hashing_is_correct_from_many_threads_at_once() -> None:
    images = [_noise(300 + i, 200 + 3 * i, i) for i in range(8)]
    expected = [reference(i) for i in images]
    results: dict[int, tuple[bytes, int]] = {}

    def work(i: int) -> None:
        for _ in range(3):
            results[i] = pdq_hash(images[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [results[i] for i in range(8)] == expected


# -- a NumPy transcription of the reference, to check the float-luma (vPDQ) variant ------------


def _box(a: Any, window: int, axis: int) -> Any:
    """The reference's 1-D box filter (grow, slide, shrink) along ``axis``, in float32."""
    a = np.moveaxis(a, axis, 0)
    n = a.shape[0]
    half = (window + 2) // 2
    out = np.empty_like(a)
    s = np.zeros(a.shape[1:], np.float32)
    ri = li = oi = 0
    cws = 0
    for _ in range(half - 1):
        s = s + a[ri]
        cws += 1
        ri += 1
    for _ in range(window - half + 1):
        s = s + a[ri]
        cws += 1
        out[oi] = s / np.float32(cws)
        ri += 1
        oi += 1
    for _ in range(n - window):
        s = s + a[ri]
        s = s - a[li]
        out[oi] = s / np.float32(cws)
        ri += 1
        li += 1
        oi += 1
    for _ in range(half - 1):
        s = s - a[li]
        cws -= 1
        out[oi] = s / np.float32(cws)
        li += 1
        oi += 1
    return np.moveaxis(out, 0, axis)


def _torben(m: Any) -> Any:
    lo, hi = m.min(), m.max()
    n = m.size
    while True:
        guess = np.float32((lo + hi) / np.float32(2))
        below, above = m[m < guess], m[m > guess]
        less, greater = below.size, above.size
        equal = n - less - greater
        maxlt = below.max() if less else lo
        mingt = above.min() if greater else hi
        if less <= (n + 1) // 2 and greater <= (n + 1) // 2:
            break
        if less > greater:
            hi = maxlt
        else:
            lo = mingt
    if less >= (n + 1) // 2:
        return maxlt
    if less + equal >= (n + 1) // 2:
        return guess
    return mingt


def oracle_from_luma(luma: Any) -> tuple[bytes, int]:
    h, w = luma.shape
    if h < 5 or w < 5:
        return bytes(32), 0
    if (h, w) == (64, 64):
        a = luma.astype(np.float32)
    else:
        x = luma.astype(np.float32)
        wr, wc = (w + 127) // 128, (h + 127) // 128
        for _ in range(2):
            x = _box(_box(x, wr, 1), wc, 0)
        rows = [int(((k + 0.5) * h) / 64) for k in range(64)]
        cols = [int(((k + 0.5) * w) / 64) for k in range(64)]
        a = x[np.ix_(rows, cols)]
    diff_v = np.trunc(((a[:-1] - a[1:]) * np.float32(100)) / np.float32(255)).astype(int)
    diff_h = np.trunc(((a[:, :-1] - a[:, 1:]) * np.float32(100)) / np.float32(255)).astype(int)
    quality = min(100, int((np.abs(diff_v).sum() + np.abs(diff_h).sum()) // 90))
    i = np.arange(16, dtype=np.float64)[:, None]
    j = np.arange(64, dtype=np.float64)[None, :]
    scale = np.float64(np.float32(np.sqrt(2.0 / 64.0)))
    d = (scale * np.cos((np.pi / 2.0 / 64.0) * (i + 1) * (2 * j + 1))).astype(np.float32)
    t = np.zeros((16, 64), np.float32)
    for k in range(64):
        t = t + d[:, k : k + 1] * a[k : k + 1, :]
    b = np.zeros((16, 16), np.float32)
    for k in range(64):
        b = b + t[:, k : k + 1] * d[:, k][None, :]
    bits = (b > _torben(b.ravel())).astype(np.uint8)  # bit i*16+j
    words = [int(sum(int(bits[r, c]) << c for c in range(16))) for r in range(16)]
    return b"".join(words[r].to_bytes(2, "big") for r in range(15, -1, -1)), quality


def _numpy_luma(rgb: RGB) -> Any:
    return (rgb[:, :, 0] * 0.299 + rgb[:, :, 1] * 0.587 + rgb[:, :, 2] * 0.114).astype(np.float32)


def _float_luma(rgb: RGB) -> Any:
    f = rgb.astype(np.float32)
    c = np.float32
    return (c(0.299) * f[:, :, 0] + c(0.587) * f[:, :, 1]) + c(0.114) * f[:, :, 2]


FRAME_SIZES = [(64, 64), (5, 9), (48, 64), (90, 160), (144, 176), (240, 320), (131, 257)]


@pytest.mark.parametrize(("h", "w"), FRAME_SIZES, ids=[f"{h}x{w}" for h, w in FRAME_SIZES])
def test_oracle_agrees_with_pdqhash(h: int, w: int) -> None:
    rgb = _shapes(h, w, h + w)
    assert oracle_from_luma(_numpy_luma(rgb)) == reference(rgb)


@pytest.mark.parametrize(("h", "w"), FRAME_SIZES, ids=[f"{h}x{w}" for h, w in FRAME_SIZES])
def test_frame_hash_uses_vpdq_float_luma(h: int, w: int) -> None:
    for rgb in (_shapes(h, w, h * w), _noise(h, w, h)):
        assert pdq_hash_frame(rgb) == oracle_from_luma(_float_luma(rgb))

"""Signal variants: border, frame and rotation finding, and hashes that survive the edits."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

from jaga.errors import InvalidInput, JagaError
from jaga.eval.framing import render_desktop, render_phone
from jaga.eval.transforms import crop, fit_in_canvas, jpeg, pad, resize, rotate
from jaga.signals.pdq import DIHEDRAL_VARIANTS, InvalidPixels, pdq_hash
from jaga.signals.variants import (
    VARIANT_THRESHOLD,
    Box,
    ImageTooSmall,
    InvalidVariantConfig,
    Variant,
    VariantConfig,
    bank_variants,
    estimate_rotation,
    frame_box,
    query_variants,
    trim_box,
)

U8 = np.ndarray[Any, np.dtype[np.uint8]]


def texture(seed: int, height: int = 240, width: int = 360) -> U8:
    """A photo-like test image: smooth colour noise at several scales under many sharp-edged
    ellipses (so that even a zoomed-in crop keeps detail, and PDQ quality stays high)."""
    rng = np.random.default_rng(seed)
    field = np.zeros((height, width, 3), dtype=np.float32)
    for cells, weight in ((3, 1.0), (6, 0.7), (12, 0.5), (24, 0.35), (48, 0.2)):
        grid = rng.random((cells, max(2, round(cells * width / height)), 3)).astype(np.float32)
        layers = [
            np.asarray(
                Image.fromarray(grid[..., c]).resize((width, height), Image.Resampling.BICUBIC)
            )
            for c in range(3)
        ]
        field += weight * np.stack(layers, axis=-1)
    field = (field - field.min()) / (field.max() - field.min())
    picture = Image.fromarray((40 + 175 * field).astype(np.uint8))
    draw = ImageDraw.Draw(picture)
    for _ in range(80):  # sharp edges everywhere, as photos have
        w, h = rng.uniform(0.04, 0.25) * width, rng.uniform(0.04, 0.25) * height
        x, y = rng.uniform(-0.1, 1.0) * width, rng.uniform(-0.1, 1.0) * height
        colour = tuple(int(v) for v in rng.integers(30, 230, 3))
        draw.ellipse((x, y, x + w, y + h), fill=colour)  # type: ignore[arg-type]
    return np.asarray(picture)


def distance(a: bytes, b: bytes) -> int:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


def best(query: list[Variant], bank: list[Variant]) -> tuple[int, str]:
    return min((distance(q.value, b.value), f"{q.name}~{b.name}") for q in query for b in bank)


def plain_only(rgb: U8) -> list[Variant]:
    value, quality = pdq_hash(rgb)
    return [Variant("", value, quality)]


SEEDS = (1, 2, 3)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("pixels", "error"),
    [
        (np.zeros((0, 0, 3), dtype=np.uint8), ImageTooSmall),
        (np.zeros((1, 1, 3), dtype=np.uint8), ImageTooSmall),
        (np.zeros((4, 100, 3), dtype=np.uint8), ImageTooSmall),
        (np.zeros((32, 32), dtype=np.uint8), InvalidPixels),
        (np.zeros((32, 32, 4), dtype=np.uint8), InvalidPixels),
        (np.zeros((32, 32, 3), dtype=np.float32), InvalidPixels),
        ([[1, 2], [3, 4]], InvalidPixels),
    ],
)
@pytest.mark.parametrize(
    "function", [bank_variants, query_variants, trim_box, frame_box, estimate_rotation]
)
def test_bad_input_gets_a_typed_error(pixels: Any, error: type[Exception], function: Any) -> None:
    with pytest.raises(error) as caught:
        function(pixels)
    assert isinstance(caught.value, InvalidInput)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"bank_crops": (0,)},
        {"query_crops": (50,)},
        {"work_side": 10},
        {"crop_side": 8},
        {"max_angle": 0.0},
        {"orientations": ("rot45",)},
    ],
)
def test_config_out_of_range_is_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidVariantConfig):
        VariantConfig(**kwargs)


# --------------------------------------------------------------------------- names and basics


def test_plain_hash_comes_first_and_equals_pdq() -> None:
    image = texture(1)
    value, quality = pdq_hash(image)
    for variants in (bank_variants(image), query_variants(image)):
        assert variants[0] == Variant("", value, quality)
        assert len({v.value for v in variants}) == len(variants)  # no duplicate hashes
        assert all(len(v.value) == 32 and v.quality >= 50 for v in variants)


def test_names_are_the_documented_families() -> None:
    image = texture(2)
    bank = [v.name for v in bank_variants(image)]
    assert bank[0] == ""
    crops = {f"crop:{p}" for p in (4, 8, 12, 16, 20)}
    assert {n for n in bank[1:] if n != "trim"} == crops | {"square"}
    square = texture(2, height=300, width=300)
    assert "square" not in {v.name for v in bank_variants(square)}
    query = [v.name for v in query_variants(image)]
    assert query == ["", "turn90", "turn180", "turn270", "mirror", "crop:1", "crop:2", "crop:3"]
    shortcut = [v.name for v in query_variants(image, VariantConfig(dihedral=True))]
    assert shortcut[: len(DIHEDRAL_VARIANTS)] == list(DIHEDRAL_VARIANTS)


def test_variants_are_deterministic() -> None:
    image = texture(3)
    assert query_variants(image) == query_variants(image.copy())
    assert bank_variants(image) == bank_variants(image.copy())


def test_small_images_get_only_plain_hashes() -> None:
    image = texture(4, height=48, width=60)
    assert [v.name for v in query_variants(image)] == [""]
    assert [v.name for v in bank_variants(image)] == [""]


def test_config_switches_families_off() -> None:
    image = pad(texture(5), 0.2, (0, 0, 0))
    config = VariantConfig(
        orientations=(),
        trim=False,
        frame=False,
        rotation=False,
        square=False,
        query_crops=(),
        bank_crops=(),
    )
    assert [v.name for v in query_variants(image, config)] == [""]
    assert [v.name for v in bank_variants(image, config)] == [""]


# --------------------------------------------------------------------------- flat regions


def test_flat_image_has_no_usable_variants() -> None:
    flat = np.full((200, 300, 3), 128, dtype=np.uint8)
    assert query_variants(flat) == []
    assert bank_variants(flat) == []


def test_flat_crops_are_skipped_by_quality() -> None:
    # Texture on a thin strip at the left only: the central crops are flat grey.
    image = np.full((240, 360, 3), 90, dtype=np.uint8)
    image[:, :40] = texture(6, height=240, width=40)
    for variant in bank_variants(image) + query_variants(image):
        assert variant.quality >= 50
    assert not any(v.name.startswith("crop:") for v in bank_variants(image))
    lowest = VariantConfig(min_quality=0)
    flat = [v for v in bank_variants(image, lowest) if v.name.startswith("crop:")]
    assert flat
    assert all(v.quality < 50 for v in flat)


# --------------------------------------------------------------------------- borders


@pytest.mark.parametrize("colour", [(0, 0, 0), (255, 255, 255), (200, 40, 90)])
@pytest.mark.parametrize("fraction", [0.1, 0.2])
def test_trim_finds_the_photo_inside_a_pad(colour: tuple[int, int, int], fraction: float) -> None:
    image = texture(7)
    padded = pad(image, fraction, colour)
    dy, dx = round(fraction * 240), round(fraction * 360)
    assert trim_box(padded) == Box(dy, dx, dy + 240, dx + 360)


def test_trim_finds_letterbox_and_pillarbox() -> None:
    image = texture(8)  # 3:2
    letterbox = fit_in_canvas(image, 360, 640, (0, 0, 0))  # 9:16: bars above and below
    box = trim_box(letterbox)
    assert box is not None
    assert abs(box.top - 200) <= 1
    assert abs(box.bottom - 440) <= 1
    assert (box.left, box.right) == (0, 360)
    pillarbox = fit_in_canvas(image, 640, 240, (10, 10, 10))
    box = trim_box(pillarbox)
    assert box is not None
    assert abs(box.left - 140) <= 1
    assert abs(box.right - 500) <= 1
    assert (box.top, box.bottom) == (0, 240)


def test_trim_leaves_unbordered_photos_alone() -> None:
    for seed in SEEDS:
        assert trim_box(texture(seed)) is None


def test_trim_keeps_a_white_background_inside_black_bars() -> None:
    photo = np.full((240, 360, 3), 255, dtype=np.uint8)
    photo[40:200, 60:300] = texture(9, height=160, width=240)
    bars = pad(photo, 0.2, (0, 0, 0), sides="tb")
    assert trim_box(bars) == Box(48, 0, 288, 360)


def test_symmetric_trim_recovers_a_photo_with_an_edge_of_the_border_colour() -> None:
    photo = texture(10).copy()
    photo[:30] = 0  # a black band at the top of the photo itself (night sky)
    padded = pad(photo, 0.2, (0, 0, 0))
    query = query_variants(padded)
    names = {v.name for v in query}
    assert {"trim", "trim_sym"} <= names
    value, _ = pdq_hash(photo)
    sym = next(v for v in query if v.name == "trim_sym")
    assert distance(sym.value, value) <= VARIANT_THRESHOLD


# --------------------------------------------------------------------------- frames


@pytest.mark.parametrize("render", [render_phone, render_desktop])
@pytest.mark.parametrize("seed", SEEDS)
def test_frame_finds_the_photo_in_a_screenshot(render: Any, seed: int) -> None:
    shot, (top, left, bottom, right) = render(texture(seed), np.random.default_rng(seed))
    box = frame_box(shot)
    assert box is not None
    tolerance = 0.02 * max(bottom - top, right - left)
    assert abs(box.top - top) <= tolerance
    assert abs(box.bottom - bottom) <= tolerance
    assert abs(box.left - left) <= tolerance
    assert abs(box.right - right) <= tolerance


def test_frame_is_none_for_a_plain_photo() -> None:
    for seed in SEEDS:
        assert frame_box(texture(seed)) is None


# --------------------------------------------------------------------------- rotation


@pytest.mark.parametrize("angle", [-8.0, -4.0, 2.0, 4.0, 8.0])
def test_rotation_angle_is_found(angle: float) -> None:
    turned = rotate(texture(11, 360, 540), angle)
    found = estimate_rotation(turned)
    assert found is not None
    assert abs(found.angle - angle) <= 0.3
    assert not found.expanded
    assert found.fill == (0, 0, 0)


def test_rotation_on_a_grown_white_canvas_is_found() -> None:
    turned = rotate(texture(12, 360, 540), -4.0, expand=True, fill=(255, 255, 255))
    found = estimate_rotation(turned)
    assert found is not None
    assert abs(found.angle + 4.0) <= 0.3
    assert found.expanded
    assert found.fill == (255, 255, 255)


def test_no_rotation_is_reported_for_plain_or_padded_photos() -> None:
    image = texture(13)
    assert estimate_rotation(image) is None
    assert estimate_rotation(pad(image, 0.1, (0, 0, 0))) is None
    assert estimate_rotation(rotate(image, 0.3)) is None  # below the minimum angle


# --------------------------------------------------------------------------- matching


def _edits() -> dict[str, Any]:
    return {
        "pad_20_black": lambda im: pad(im, 0.2, (0, 0, 0)),
        "pad_10_colour": lambda im: pad(im, 0.1, (30, 160, 90)),
        "letterbox": lambda im: fit_in_canvas(im, 400, 700, (0, 0, 0)),
        "rotate_4": lambda im: rotate(im, 4.0),
        "rotate_-8_jpeg": lambda im: jpeg(rotate(im, -8.0), 50),
        "pad_resize": lambda im: resize(pad(im, 0.2, (0, 0, 0)), 0.5),
        "phone": lambda im: render_phone(im, np.random.default_rng(0))[0],
        "mirror": lambda im: np.ascontiguousarray(im[:, ::-1]),
        "quarter_turn": lambda im: np.ascontiguousarray(np.rot90(im)),
        "upside_down": lambda im: np.ascontiguousarray(np.rot90(im, 2)),
    }


@pytest.mark.parametrize("edit", list(_edits()))
@pytest.mark.parametrize("seed", SEEDS)
def test_query_variants_match_the_plain_hash_of_the_original(edit: str, seed: int) -> None:
    """What works against banks of plain PDQ (external exchanges)."""
    original = texture(seed, 300, 450)
    edited = _edits()[edit](original)
    plain = plain_only(original)
    assert best(plain_only(edited), plain)[0] > VARIANT_THRESHOLD
    assert best(query_variants(edited), plain)[0] <= VARIANT_THRESHOLD


@pytest.mark.parametrize("fraction", [0.02, 0.05, 0.07, 0.1, 0.15, 0.2])
@pytest.mark.parametrize("seed", SEEDS)
def test_crops_match_bank_crops(fraction: float, seed: int) -> None:
    """A crop cannot be undone from the query; the bank's central crops catch it."""
    original = texture(seed, 300, 450)
    cropped = crop(original, fraction, fraction, fraction, fraction)
    if fraction >= 0.05:
        assert best(query_variants(cropped), plain_only(original))[0] > VARIANT_THRESHOLD
    assert best(query_variants(cropped), bank_variants(original))[0] <= VARIANT_THRESHOLD


@pytest.mark.parametrize("seed", SEEDS)
def test_a_centre_square_crop_matches_the_bank_square(seed: int) -> None:
    original = texture(seed, 300, 450)
    square = np.ascontiguousarray(original[:, 75:375])
    assert best(query_variants(square), plain_only(original))[0] > VARIANT_THRESHOLD
    distance_, pair = best(query_variants(square), bank_variants(original))
    assert distance_ <= VARIANT_THRESHOLD
    assert pair.endswith("~square")


@pytest.mark.parametrize("seed", SEEDS)
def test_rotation_matches_a_bank_crop_too(seed: int) -> None:
    original = texture(seed, 300, 450)
    query = query_variants(rotate(original, 6.0))
    bank = bank_variants(original)
    distance_, pair = best(query, bank)
    assert distance_ <= VARIANT_THRESHOLD
    assert pair.startswith("derot")  # the rotation was undone, not matched by luck
    names = {v.name for v in query}
    assert "derot" in names
    assert any(n.startswith("derot_crop:") for n in names)


def test_unrelated_images_stay_far_apart() -> None:
    """Every variant against every variant of other images, as the matcher compares them."""
    images = [texture(seed, 300, 450) for seed in range(20, 28)]
    banks = [bank_variants(im) for im in images]
    queries = [query_variants(pad(im, 0.1, (0, 0, 0))) for im in images]
    closest = min(
        best(queries[i], banks[j])[0]
        for i in range(len(images))
        for j in range(len(images))
        if i != j
    )
    assert closest > 2 * VARIANT_THRESHOLD


def test_errors_are_jaga_errors() -> None:
    with pytest.raises(JagaError):
        query_variants(np.zeros((2, 2, 3), dtype=np.uint8))


def fine_grating(height: int = 512, width: int = 768, seed: int = 0) -> U8:
    """A photo of fine repetitive detail (a slanted grating of period 2.1 pixels under smooth
    light): it aliases when shrunk, so its PDQ at half size lies far from its PDQ at full size,
    like the woven screens and paper textures that defeat half-size turns in the corpus."""
    rng = np.random.default_rng(seed)
    light = Image.fromarray(rng.integers(0, 256, (6, 9), dtype=np.uint8))
    low = np.asarray(light.resize((width, height), Image.Resampling.BICUBIC), dtype=np.float64)
    y, x = np.mgrid[0:height, 0:width]
    grating = np.sin(2 * np.pi * (x * np.cos(0.3) + y * np.sin(0.3)) / 2.1) * low / 2
    grey = np.clip(128 + grating + 0.3 * (low - 128), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(np.stack([grey] * 3, axis=-1))


@pytest.mark.parametrize("seed", [1, 2])  # seed 0's grating has PDQ quality 47: unmatchable
def test_turns_of_an_image_that_aliases_when_shrunk_are_hashed_at_working_size(seed: int) -> None:
    """Turns are normally hashed on a half-size copy (cheap); for an image whose PDQ drifts
    when shrunk, the upload is turned back at working size, which is exact for a pure mirror
    or quarter turn: the variant equals the original's plain hash, not merely comes near it."""
    original = fine_grating(seed=seed)
    plain = plain_only(original)
    turned = (np.ascontiguousarray(original[:, ::-1]), np.ascontiguousarray(np.rot90(original)))
    for edited in turned:
        assert best(query_variants(edited), plain)[0] == 0


def test_turns_are_hashed_on_the_small_copy_when_it_does_not_drift() -> None:
    """The cheap path stays the default: for an ordinary photo the turned-back hash comes from
    the half-size copy, near the original's hash but (almost always) not bit-equal to it."""
    original = texture(4, 512, 768)
    variants = query_variants(np.ascontiguousarray(original[:, ::-1]))
    mirror = next(v for v in variants if v.name == "mirror")
    gap = distance(mirror.value, pdq_hash(original)[0])
    assert 0 < gap <= VARIANT_THRESHOLD


def test_orientation_views_are_pillows_transposes() -> None:
    """The turns are NumPy views hashed in place; each must be the image Pillow's transpose of
    the same name gives, or turned-back uploads would not line up with the bank's hash."""
    from jaga.signals.variants import _ORIENTATIONS

    pillow = {
        "turn90": Image.Transpose.ROTATE_90,
        "turn180": Image.Transpose.ROTATE_180,
        "turn270": Image.Transpose.ROTATE_270,
        "mirror": Image.Transpose.FLIP_LEFT_RIGHT,
        "flip": Image.Transpose.FLIP_TOP_BOTTOM,
        "transpose": Image.Transpose.TRANSPOSE,
        "transverse": Image.Transpose.TRANSVERSE,
    }
    rgb = texture(9, 37, 53)
    assert set(_ORIENTATIONS) == set(pillow)
    for name, view in _ORIENTATIONS.items():
        expected = np.asarray(Image.fromarray(rgb).transpose(pillow[name]))
        assert np.array_equal(view(rgb), expected), name

"""The benchmark's transforms: deterministic per seed, and each does what its name says."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from jaga.eval.framing import render_desktop, render_phone
from jaga.eval.transforms import (
    TRANSFORMS,
    InvalidTransformInput,
    UnknownTransform,
    get_transforms,
    transform_names,
)
from jaga.signals.variants import estimate_rotation

Photo = Callable[..., Any]
H, W = 200, 300


def one(name: str) -> Any:
    return get_transforms([name])[0]


def test_catalogue_names_are_unique_and_cover_the_issue() -> None:
    names = [t.name for t in TRANSFORMS]
    assert len(names) == len(set(names))
    wanted = {
        "jpeg_75", "jpeg_30", "jpeg_10", "resize_0.5", "resize_0.25", "blur_2", "gamma_2",
        "vignette", "noise_0.2", "watermark", "greyscale", "aspect_1.25", "flip_h", "rotate_90",
        "crop_2", "crop_5", "crop_10", "crop_20", "pad_10_black", "pad_20_black",
        "pad_10_colour", "pad_20_colour", "letterbox_9:16", "pillarbox_16:9", "rotate_2",
        "rotate_4", "rotate_8", "screenshot_phone", "screenshot_desktop", "crop_5+jpeg_30",
        "pad_20+resize_0.5", "rotate_4+jpeg_30",
    }  # fmt: skip
    assert wanted <= set(transform_names(core_only=True))
    assert set(transform_names(core_only=True)) < set(transform_names())


@pytest.mark.parametrize("transform", TRANSFORMS, ids=lambda t: t.name)
def test_every_transform_is_deterministic_for_a_seed(transform: Any, photo: Photo) -> None:
    image = photo(1, H, W)
    first = transform.apply(image, seed=7)
    assert first.dtype == np.uint8
    assert first.ndim == 3
    assert first.shape[2] == 3
    assert np.array_equal(first, transform.apply(image, seed=7))
    assert np.array_equal(image, photo(1, H, W))  # the input is not modified


@pytest.mark.parametrize(
    "name", ["noise_0.2", "watermark", "pad_10_colour", "screenshot_phone", "screenshot_desktop"]
)
def test_random_transforms_change_with_the_seed(name: str, photo: Photo) -> None:
    image = photo(2, H, W)
    outputs = [one(name).apply(image, seed=s) for s in range(4)]
    assert any(
        a.shape != b.shape or not np.array_equal(a, b) for a, b in itertools.pairwise(outputs)
    )


def test_bad_input_gets_a_typed_error() -> None:
    for bad in (
        np.zeros((0, 0, 3), np.uint8),
        np.zeros((1, 1, 3), np.uint8),
        np.zeros((H, W), np.uint8),
        np.zeros((H, W, 3), np.float64),
    ):
        with pytest.raises(InvalidTransformInput):
            one("jpeg_75").apply(bad)
    with pytest.raises(UnknownTransform, match="nope"):
        get_transforms(["nope"])


@pytest.mark.parametrize("fraction", [2, 5, 10, 20])
def test_crop_cuts_that_share_from_every_side(fraction: int, photo: Photo) -> None:
    image = photo(3, H, W)
    out = one(f"crop_{fraction}").apply(image)
    dy, dx = round(fraction / 100 * H), round(fraction / 100 * W)
    assert np.array_equal(out, image[dy : H - dy, dx : W - dx])


def test_one_sided_and_square_crops(photo: Photo) -> None:
    image = photo(4, H, W)
    assert np.array_equal(one("crop_corner_10").apply(image), image[20:, 30:])
    square = one("crop_square").apply(image)
    assert square.shape[:2] == (H, H)
    assert np.array_equal(square, image[:, 50:250])


@pytest.mark.parametrize(
    ("name", "black"),
    [("pad_10_black", True), ("pad_20_black", True), ("pad_10_colour", False),
     ("pad_20_colour", False)],
)  # fmt: skip
def test_pad_adds_a_uniform_border_on_every_side(name: str, black: bool, photo: Photo) -> None:
    image = photo(5, H, W)
    fraction = int(name.split("_")[1]) / 100
    out = one(name).apply(image, seed=3)
    dy, dx = round(fraction * H), round(fraction * W)
    assert out.shape == (H + 2 * dy, W + 2 * dx, 3)
    assert np.array_equal(out[dy : dy + H, dx : dx + W], image)
    border = np.concatenate(
        [
            out[:dy].reshape(-1, 3),
            out[-dy:].reshape(-1, 3),
            out[:, :dx].reshape(-1, 3),
            out[:, -dx:].reshape(-1, 3),
        ]
    )
    assert (border == border[0]).all()
    assert (border[0] == 0).all() == black


def test_top_bottom_pad_letterbox_and_pillarbox(photo: Photo) -> None:
    image = photo(6, H, W)
    tb = one("pad_20_top_bottom").apply(image)
    assert tb.shape == (H + 80, W, 3)
    assert not tb[:40].any()
    assert not tb[-40:].any()
    letterbox = one("letterbox_9:16").apply(image)
    assert letterbox.shape == (1280, 720, 3)
    assert not letterbox[:100].any()
    assert not letterbox[-100:].any()
    assert letterbox[640].any()
    pillarbox = one("pillarbox_16:9").apply(image)
    assert pillarbox.shape == (720, 1280, 3)
    assert not pillarbox[:, :50].any()
    assert not pillarbox[:, -50:].any()


@pytest.mark.parametrize("angle", [2, 4, 8])
def test_rotation_turns_by_the_angle_with_black_corners(angle: int, photo: Photo) -> None:
    image = photo(7, 300, 450)
    out = one(f"rotate_{angle}").apply(image, seed=1)
    assert out.shape == image.shape
    assert not out[0, 0].any()
    assert not out[-1, -1].any()
    found = estimate_rotation(out)
    assert found is not None
    assert abs(abs(found.angle) - angle) <= 0.3


def test_expanded_and_cropped_rotations(photo: Photo) -> None:
    image = photo(8, 300, 450)
    grown = one("rotate_4_expand_white").apply(image)
    assert grown.shape[0] > 300
    assert grown.shape[1] > 450
    assert (grown[0, 0] == 255).all()
    cropped = one("rotate_4_cropped").apply(image)
    assert cropped.shape[0] < 300
    assert cropped.shape[1] < 450
    corners = np.stack([cropped[0, 0], cropped[0, -1], cropped[-1, 0], cropped[-1, -1]])
    assert corners.any(axis=1).all()  # no fill left in the corners


def test_dihedral_and_colour_transforms(photo: Photo) -> None:
    image = photo(9, H, W)
    assert np.array_equal(one("flip_h").apply(image), image[:, ::-1])
    assert np.array_equal(one("rotate_90").apply(image), np.rot90(image))
    grey = one("greyscale").apply(image)
    assert (grey[..., 0] == grey[..., 1]).all()
    assert (grey[..., 1] == grey[..., 2]).all()
    assert one("gamma_2").apply(image).mean() < image.mean()
    vignette = one("vignette").apply(image)
    assert vignette[0, 0].sum() < image[0, 0].sum()
    assert vignette.shape == image.shape
    assert one("aspect_1.25").apply(image).shape == (H, round(1.25 * W), 3)
    assert one("resize_0.25").apply(image).shape == (H // 4, W // 4, 3)
    assert one("jpeg_10").apply(image).shape == image.shape
    assert not np.array_equal(one("jpeg_10").apply(image), image)
    assert not np.array_equal(one("blur_2").apply(image), image)
    marked = one("watermark").apply(image, seed=1)
    assert marked.shape == image.shape
    assert not np.array_equal(marked, image)


@pytest.mark.parametrize("render", [render_phone, render_desktop])
def test_screenshots_hold_the_photo_inside_ui(render: Any, photo: Photo) -> None:
    image = photo(10, H, W)
    shot, (top, left, bottom, right) = render(image, np.random.default_rng(3))
    assert shot.shape[0] > bottom - top
    assert shot.shape[1] >= right - left
    assert abs((right - left) / (bottom - top) - W / H) < 0.02  # the photo, aspect kept
    # UI above the photo: a status/title bar or window chrome, not the photo
    assert top >= 30
    inside = shot[top:bottom, left:right]
    assert inside.std() > 20  # the photo's texture, not flat UI

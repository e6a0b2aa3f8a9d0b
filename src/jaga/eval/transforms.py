"""The edits the robustness benchmark applies to known images: what re-sharing and offenders do.

Each :class:`Transform` is a pure function of the pixels and a seed: the same image, transform and
seed always give the same pixels (random choices come from a generator seeded with the run's seed
and the transform's name). ``core`` marks the edits named in the evaluation issue; the others are
harder cases kept in the table so the numbers do not flatter the method (off-grid and one-sided
crops, square crops, rotations without fill corners).

Sizes are fractions of the image: ``crop_5`` removes 5% of the width from the left and from the
right and 5% of the height from the top and from the bottom; ``pad_20`` adds 20% of each dimension
on every side.
"""

from __future__ import annotations

import io
import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from jaga.errors import InvalidInput
from jaga.eval.framing import desktop_screenshot, phone_screenshot

U8 = NDArray[np.uint8]
TransformFn = Callable[[U8, np.random.Generator], U8]


class InvalidTransformInput(InvalidInput):
    """A transform was given pixels that are not an (H, W, 3) uint8 image of a usable size."""


class UnknownTransform(InvalidInput):
    """A transform name that is not in the catalogue."""


@dataclass(frozen=True)
class Transform:
    """One named, seeded edit. ``group`` is the family shown in tables and the plot."""

    name: str
    group: str
    description: str
    fn: TransformFn
    core: bool = True

    def apply(self, rgb: Any, seed: int = 0) -> U8:
        pixels = _checked(rgb)
        rng = np.random.default_rng([seed & 0xFFFFFFFF, zlib.crc32(self.name.encode())])
        out = self.fn(pixels, rng)
        return np.ascontiguousarray(out, dtype=np.uint8)


def _checked(rgb: Any) -> U8:
    array = np.asarray(rgb)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise InvalidTransformInput(
            f"transforms need (height, width, 3) uint8 pixels, got {array.dtype} {array.shape}"
        )
    if min(array.shape[:2]) < 16:
        raise InvalidTransformInput(
            f"transforms need at least 16x16 pixels, got {array.shape[1]}x{array.shape[0]}"
        )
    return array


# --------------------------------------------------------------------------- primitive edits


def jpeg(image: U8, quality: int) -> U8:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"))


def resize(image: U8, factor_x: float, factor_y: float | None = None) -> U8:
    factor_y = factor_x if factor_y is None else factor_y
    height, width = image.shape[:2]
    size = (max(1, round(width * factor_x)), max(1, round(height * factor_y)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BICUBIC))


def crop(image: U8, left: float, top: float, right: float, bottom: float) -> U8:
    """Remove the given fractions of the width (left, right) and height (top, bottom)."""
    height, width = image.shape[:2]
    return image[
        round(top * height) : height - round(bottom * height),
        round(left * width) : width - round(right * width),
    ]


def pad(image: U8, fraction: float, colour: tuple[int, int, int], sides: str = "tblr") -> U8:
    height, width = image.shape[:2]
    dy, dx = round(fraction * height), round(fraction * width)
    top, bottom = (dy if "t" in sides else 0), (dy if "b" in sides else 0)
    left, right = (dx if "l" in sides else 0), (dx if "r" in sides else 0)
    out = np.empty((height + top + bottom, width + left + right, 3), dtype=np.uint8)
    out[...] = np.asarray(colour, dtype=np.uint8)
    out[top : top + height, left : left + width] = image
    return out


def fit_in_canvas(image: U8, width: int, height: int, colour: tuple[int, int, int]) -> U8:
    """Letterbox or pillarbox: scale to fit a width x height canvas and centre it."""
    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    shown = resize(image, scale) if scale != 1 else image
    out = np.empty((height, width, 3), dtype=np.uint8)
    out[...] = np.asarray(colour, dtype=np.uint8)
    top, left = (height - shown.shape[0]) // 2, (width - shown.shape[1]) // 2
    out[top : top + shown.shape[0], left : left + shown.shape[1]] = shown
    return out


def rotate(
    image: U8, angle: float, *, expand: bool = False, fill: tuple[int, int, int] = (0, 0, 0)
) -> U8:
    """Rotate counter-clockwise by ``angle`` degrees (bilinear), corners filled with ``fill``."""
    picture = Image.fromarray(image)
    turned = picture.rotate(
        angle, resample=Image.Resampling.BILINEAR, expand=expand, fillcolor=fill
    )
    return np.asarray(turned)


def rotate_and_crop(image: U8, angle: float) -> U8:
    """Rotate in the same canvas and keep the largest centred rectangle with no fill, at the
    original aspect: what photo editors' straighten tool does."""
    height, width = image.shape[:2]
    turned = rotate(image, angle)
    theta = math.radians(angle)
    c, s = abs(math.cos(theta)), abs(math.sin(theta))
    keep = min(width / (width * c + height * s), height / (width * s + height * c))
    margin = (1 - keep) / 2 + 0.005
    return crop(turned, margin, margin, margin, margin)


def gamma(image: U8, value: float) -> U8:
    table = np.round(255 * (np.arange(256) / 255) ** value).astype(np.uint8)
    out: U8 = table[image]
    return out


def vignette(image: U8) -> U8:
    """Darken towards the corners: a Gaussian falloff with sigma of half of each dimension."""
    height, width = image.shape[:2]
    y = np.exp(-((np.arange(height) - (height - 1) / 2) ** 2) / (2 * (height / 2) ** 2))
    x = np.exp(-((np.arange(width) - (width - 1) / 2) ** 2) / (2 * (width / 2) ** 2))
    weight = (y[:, None] * x[None, :])[..., None]
    weight /= weight.max()
    out: U8 = (image * weight).astype(np.uint8)
    return out


def noise(image: U8, rng: np.random.Generator, sigma: float) -> U8:
    """Additive Gaussian noise, the same value on the three channels of a pixel."""
    values = rng.normal(0.0, sigma, size=image.shape[:2])[..., None]
    return np.clip(image + values, 0, 255).astype(np.uint8)


def watermark(image: U8, rng: np.random.Generator) -> U8:
    """Semi-transparent text across a seeded position, about a third of the width."""
    height, width = image.shape[:2]
    text = str(rng.choice(["SAMPLE", "(c) PHOTOS", "shared via app", "CONFIDENTIAL"]))
    size = 10
    font = ImageFont.load_default(size=size)
    text_width = font.getlength(text)
    size = max(8, round(size * 0.35 * width / max(text_width, 1)))
    font = ImageFont.load_default(size=size)
    left, top, right, bottom = font.getbbox(text)
    x = int(rng.integers(0, max(1, width - (right - left))))
    y = int(rng.integers(0, max(1, height - (bottom - top))))
    layer = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    shade = 255 if rng.random() < 0.5 else 0
    ImageDraw.Draw(layer).text((x, y - top), text, fill=(shade, shade, shade, 150), font=font)
    base = Image.fromarray(image).convert("RGBA")
    return np.asarray(Image.alpha_composite(base, layer).convert("RGB"))


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in rng.integers(30, 226, size=3))
    return (r, g, b)


def _sign(rng: np.random.Generator) -> float:
    return 1.0 if rng.random() < 0.5 else -1.0


# --------------------------------------------------------------------------- the catalogue


def _t(name: str, group: str, description: str, fn: TransformFn, core: bool = True) -> Transform:
    return Transform(name, group, description, fn, core)


def _chain(*steps: TransformFn) -> TransformFn:
    def run(image: U8, rng: np.random.Generator) -> U8:
        for step in steps:
            image = step(image, rng)
        return image

    return run


def _crop(fraction: float) -> TransformFn:
    return lambda image, rng: crop(image, fraction, fraction, fraction, fraction)


def _pad(fraction: float, coloured: bool) -> TransformFn:
    return lambda image, rng: pad(image, fraction, _colour(rng) if coloured else (0, 0, 0))


def _rotate(angle: float) -> TransformFn:
    return lambda image, rng: rotate(image, _sign(rng) * angle)


def _jpeg(quality: int) -> TransformFn:
    return lambda image, rng: jpeg(image, quality)


def _resize(factor: float) -> TransformFn:
    return lambda image, rng: resize(image, factor)


TRANSFORMS: Final[tuple[Transform, ...]] = (
    _t("jpeg_75", "encoding", "JPEG re-encode at quality 75", _jpeg(75)),
    _t("jpeg_30", "encoding", "JPEG re-encode at quality 30", _jpeg(30)),
    _t("jpeg_10", "encoding", "JPEG re-encode at quality 10", _jpeg(10)),
    _t("resize_0.5", "encoding", "downscale to half size (bicubic)", _resize(0.5)),
    _t("resize_0.25", "encoding", "downscale to a quarter (bicubic)", _resize(0.25)),
    _t(
        "blur_2",
        "colour",
        "Gaussian blur, sigma 2 pixels",
        lambda im, rng: np.asarray(Image.fromarray(im).filter(ImageFilter.GaussianBlur(2))),
    ),
    _t("gamma_2", "colour", "gamma 2 (darker mid-tones)", lambda im, rng: gamma(im, 2.0)),
    _t(
        "vignette",
        "colour",
        "Gaussian vignette, sigma half of each side",
        lambda im, rng: vignette(im),
    ),
    _t(
        "noise_0.2",
        "colour",
        "additive Gaussian noise, sigma 0.2 x 255",
        lambda im, rng: noise(im, rng, 0.2 * 255),
    ),
    _t("watermark", "colour", "semi-transparent text, a third of the width", watermark),
    _t(
        "greyscale",
        "colour",
        "converted to grey",
        lambda im, rng: np.asarray(Image.fromarray(im).convert("L").convert("RGB")),
    ),
    _t(
        "aspect_1.25",
        "colour",
        "stretched to 1.25 x the width",
        lambda im, rng: resize(im, 1.25, 1.0),
    ),
    _t("flip_h", "dihedral", "mirrored left-right", lambda im, rng: im[:, ::-1]),
    _t("rotate_90", "dihedral", "quarter turn counter-clockwise", lambda im, rng: np.rot90(im)),
    _t("crop_2", "crop", "2% cut from every side", _crop(0.02)),
    _t("crop_5", "crop", "5% cut from every side", _crop(0.05)),
    _t("crop_10", "crop", "10% cut from every side", _crop(0.10)),
    _t("crop_20", "crop", "20% cut from every side", _crop(0.20)),
    _t(
        "crop_7",
        "crop",
        "7% cut from every side (between the bank's crop steps)",
        _crop(0.07),
        core=False,
    ),
    _t(
        "crop_15",
        "crop",
        "15% cut from every side (between the bank's crop steps)",
        _crop(0.15),
        core=False,
    ),
    _t(
        "crop_corner_10",
        "crop",
        "10% cut from the top and from the left only",
        lambda im, rng: crop(im, 0.10, 0.10, 0.0, 0.0),
        core=False,
    ),
    _t(
        "crop_square",
        "crop",
        "centre square (a landscape photo loses its sides)",
        lambda im, rng: _square(im),
        core=False,
    ),
    _t("pad_10_black", "border", "10% black border on every side", _pad(0.10, False)),
    _t("pad_20_black", "border", "20% black border on every side", _pad(0.20, False)),
    _t("pad_10_colour", "border", "10% border of a random colour on every side", _pad(0.10, True)),
    _t("pad_20_colour", "border", "20% border of a random colour on every side", _pad(0.20, True)),
    _t(
        "pad_20_top_bottom",
        "border",
        "20% black above and below (as in Thorn's benchmark)",
        lambda im, rng: pad(im, 0.20, (0, 0, 0), "tb"),
    ),
    _t(
        "letterbox_9:16",
        "border",
        "fit into a black 720x1280 (9:16) frame",
        lambda im, rng: fit_in_canvas(im, 720, 1280, (0, 0, 0)),
    ),
    _t(
        "pillarbox_16:9",
        "border",
        "fit into a black 1280x720 (16:9) frame",
        lambda im, rng: fit_in_canvas(im, 1280, 720, (0, 0, 0)),
    ),
    _t(
        "rotate_2",
        "rotation",
        "rotated 2 degrees (random sign), black corners, same canvas",
        _rotate(2),
    ),
    _t(
        "rotate_4",
        "rotation",
        "rotated 4 degrees (random sign), black corners, same canvas",
        _rotate(4),
    ),
    _t(
        "rotate_8",
        "rotation",
        "rotated 8 degrees (random sign), black corners, same canvas",
        _rotate(8),
    ),
    _t(
        "rotate_4_expand_white",
        "rotation",
        "rotated 4 degrees on a grown white canvas",
        lambda im, rng: rotate(im, _sign(rng) * 4, expand=True, fill=(255, 255, 255)),
        core=False,
    ),
    _t(
        "rotate_4_cropped",
        "rotation",
        "rotated 4 degrees and cropped to hide the corners",
        lambda im, rng: rotate_and_crop(im, _sign(rng) * 4),
        core=False,
    ),
    _t(
        "screenshot_phone",
        "framing",
        "phone app screenshot: status/title bars, caption, icons",
        phone_screenshot,
    ),
    _t(
        "screenshot_desktop",
        "framing",
        "browser screenshot: window chrome, sidebar, text",
        desktop_screenshot,
    ),
    _t(
        "crop_5+jpeg_30",
        "combination",
        "5% crop per side, then JPEG 30",
        _chain(_crop(0.05), _jpeg(30)),
    ),
    _t(
        "pad_20+resize_0.5",
        "combination",
        "20% black border, then half size",
        _chain(_pad(0.20, False), _resize(0.5)),
    ),
    _t(
        "rotate_4+jpeg_30",
        "combination",
        "4 degree rotation, then JPEG 30",
        _chain(_rotate(4), _jpeg(30)),
    ),
    _t(
        "screenshot_phone+resize_0.5",
        "combination",
        "phone screenshot at half size",
        _chain(phone_screenshot, _resize(0.5)),
        core=False,
    ),
    _t(
        "flip_h+crop_5",
        "combination",
        "mirrored and 5% crop per side",
        _chain(lambda im, rng: im[:, ::-1], _crop(0.05)),
        core=False,
    ),
)


def _square(image: U8) -> U8:
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return image[top : top + side, left : left + side]


def transform_names(core_only: bool = False) -> list[str]:
    return [t.name for t in TRANSFORMS if t.core or not core_only]


def get_transforms(names: Sequence[str] | None = None) -> list[Transform]:
    """The transforms with these names (in catalogue order), or all of them."""
    if names is None:
        return list(TRANSFORMS)
    by_name = {t.name: t for t in TRANSFORMS}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise UnknownTransform(
            f"unknown transform(s) {', '.join(unknown)}; known: {', '.join(by_name)}"
        )
    wanted = set(names)
    return [t for t in TRANSFORMS if t.name in wanted]

"""Signal variants: extra PDQ hashes that let matching survive crops, borders, framing and rotation.

Plain PDQ is robust to re-encoding, resizing and recolouring but not to geometry: a crop of 2% per
side, 20% of padding or a 4 degree rotation moves the hash past Meta's threshold of 31 bits. The
functions here hash *prepared* pixels so that both sides of a comparison see the same content again:

Query side (:func:`query_variants`, from the uploaded image alone; works against banks that hold
only the plain PDQ of the original, as external exchanges do):

* ``""`` (the plain hash) and ``turn90``, ``turn180``, ``turn270``, ``mirror`` (``orientations``;
  also ``flip``, ``transpose``, ``transverse``): the upload turned back or mirrored for real
  and hashed, for quarter turns and mirrored copies (``dihedral=True`` adds PDQ's seven
  shortcut hashes ``rot90`` ... ``flip_minus1``, free to compute but inexact);
* ``trim``: uniform borders of any colour removed (padding, letterbox, pillarbox);
  ``trim_sym`` the same but only as deep on each side as on the opposite one (when the photo's
  own edge has the border's colour, e.g. a night sky inside black bars);
* ``frame``: the photo found inside UI framing (screenshots: status bar, title bar, buttons, text);
* ``derot``: a small rotation with filled corners detected, undone, and the lost corners filled
  from the nearby content; ``derot_crop:N`` the same, cut to the bank's ``crop:N`` rectangle;
* ``crop:N`` (N in ``query_crops``): central crops of N% per side, so that a crop of any size
  falls close to one of the bank's crop ratios (bank ratio / query ratio covers the range finely).

Bank side (:func:`bank_variants`, needs the pixels of the known image, so only for material Jaga
hashed itself): ``""``, ``trim`` when the original has borders, ``crop:N`` for N in
``bank_crops``: central crops, which a cropped upload matches, and ``square``: the centred
square of a landscape or portrait original (square feeds and profile pictures crop to it). A crop
cannot be undone from the query, so crops of material known only by a plain hash are not
recovered.

Every name is a stable string (family, then ``:percent`` for crops) so the matcher can store bank
variants as extra index entries pointing to the same bank entry, and report which query variant
matched (``Signal.variant``). Variants under ``min_quality`` (flat regions) are dropped, and
duplicate hashes are returned once: every extra hash is an extra chance of a false match.

Variants are hashed from a working copy whose longer side is at most ``work_side`` pixels (1024:
PDQ of a downscaled copy drifts by about 10 bits, so smaller copies would eat the threshold), and
borders, frames and rotations are *found* on smaller copies still, so the cost of a query is
bounded whatever the upload's size. The plain and dihedral hashes use the full pixels (bit-exact
with plain PDQ).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from jaga.errors import InvalidInput
from jaga.signals.pdq import (
    DIHEDRAL_VARIANTS,
    PDQ_MIN_QUALITY,
    PDQ_THRESHOLD,
    InvalidPixels,
    PdqSignalType,
    pdq_hash,
    pdq_hash_dihedral,
)

#: Match threshold for every variant pair: the same 31 bits as plain PDQ (no loosening).
VARIANT_THRESHOLD: Final = PDQ_THRESHOLD
#: PDQ needs at least this many pixels per side; below it the reference hashes to zeros.
MIN_SIDE: Final = 5
#: Below this many pixels per side only the plain (and dihedral) hashes are computed.
MIN_GEOMETRY_SIDE: Final = 64
_TRIM_TOLERANCE: Final = 20
_FRAME_MIN_AREA: Final = 0.12
_SHARE: Final = 0.97
_FILL_TOLERANCE: Final = 28
#: Borders and frames are found on a copy this small (1 pixel = 0.2%; PDQ tolerates ~1%).
_DETECT_SIDE: Final = 512
#: Frames (UI chrome) are found on a grey copy at most this large (1 pixel = 0.4%).
_FRAME_SIDE: Final = 256
#: Canonical crops are resampled from a copy at most this large (cheap, and enough for 64x64).
_CANON_SOURCE_SIDE: Final = 192
#: Rotation is detected on a copy this small (the angle does not depend on the scale).
_ROTATION_SIDE: Final = 256
#: Above this many bits between the PDQ of the small copy and of the full pixels, the upload's
#: turns are hashed at working size (the small copy aliases; see ``drifts_when_shrunk``).
_SHRINK_DRIFT: Final = 20
_PDQ: Final = PdqSignalType()

U8 = NDArray[np.uint8]
F32 = NDArray[np.float32]

#: Query-side orientations: the upload turned or mirrored for real, as NumPy views (no copy: the
#: PDQ core reads strided pixels; each equals Pillow's transpose of the same name, ROTATE_90 ...
#: TRANSVERSE). Each matches what PDQ's dihedral shortcut calls (in order) rot90, rot180, rot270,
#: flipy, flipx, flip_plus1 and flip_minus1, without its inexactness.
_ORIENTATIONS: Final[dict[str, Callable[[U8], U8]]] = {
    "turn90": lambda a: np.rot90(a, 1),
    "turn180": lambda a: np.rot90(a, 2),
    "turn270": lambda a: np.rot90(a, 3),
    "mirror": lambda a: a[:, ::-1],
    "flip": lambda a: a[::-1],
    "transpose": lambda a: a.transpose(1, 0, 2),
    "transverse": lambda a: np.rot90(a, 2).transpose(1, 0, 2),
}


#: The dihedral shortcut hash (:data:`jaga.signals.pdq.DIHEDRAL_VARIANTS`) that each real
#: orientation makes redundant: the same turn or flip, hashed for real (exact where the shortcut
#: is not). On the benchmark corpus the shortcut found no flip or quarter turn the real ones
#: missed, so a caller that wants both keeps only the shortcut hashes left uncovered.
SHORTCUT_FOR: Final = {
    "turn90": "rot90",
    "turn180": "rot180",
    "turn270": "rot270",
    "mirror": "flipy",
    "flip": "flipx",
    "transpose": "flip_plus1",
    "transverse": "flip_minus1",
}


class ImageTooSmall(InvalidPixels):
    """The image is empty or smaller than PDQ can hash (under 5 pixels on a side)."""


class InvalidVariantConfig(InvalidInput):
    """A :class:`VariantConfig` value out of range."""


@dataclass(frozen=True, slots=True)
class Variant:
    """One prepared hash: its name (see the module docstring), 32 PDQ bytes and PDQ quality."""

    name: str
    value: bytes
    quality: int


@dataclass(frozen=True, slots=True)
class Box:
    """A pixel rectangle ``[top, bottom) x [left, right)`` of an image."""

    top: int
    left: int
    bottom: int
    right: int

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left

    def scaled(self, factor_y: float, factor_x: float) -> Box:
        return Box(
            round(self.top * factor_y),
            round(self.left * factor_x),
            round(self.bottom * factor_y),
            round(self.right * factor_x),
        )


@dataclass(frozen=True, slots=True)
class Rotation:
    """A detected small rotation: ``angle`` in degrees as Pillow's ``rotate`` takes it
    (counter-clockwise), ``expanded`` when the canvas grew to hold the whole rotated image,
    ``fill`` the corner colour and ``error`` the fit's mean boundary error in pixels."""

    angle: float
    expanded: bool
    fill: tuple[int, int, int]
    error: float


@dataclass(frozen=True, slots=True)
class VariantConfig:
    """Which variants to compute. Crops are percent of each dimension removed per side.

    The defaults pair bank crops every 4% with query crops of 1-3%: every ratio of a symmetric
    crop from 0 to about 22% per side then lies within 0.5% per side of a bank/query pair, inside
    PDQ's tolerance at 31 bits (about 1% per side). Crops are resampled to ``crop_side`` square
    pixels before hashing (0: hash the crop at working resolution), the same on both sides: at
    64 x 64 PDQ skips its own blur, so the canonical crop is cheap to hash and its distance
    depends on the content, not on the two images' resolutions.
    """

    bank_crops: tuple[int, ...] = (4, 8, 12, 16, 20)
    query_crops: tuple[int, ...] = (1, 2, 3)
    orientations: tuple[str, ...] = ("turn90", "turn180", "turn270", "mirror")
    square: bool = True
    dihedral: bool = False
    trim: bool = True
    frame: bool = True
    rotation: bool = True
    min_quality: int = PDQ_MIN_QUALITY
    work_side: int = 1024
    crop_side: int = 64
    max_angle: float = 12.0

    def __post_init__(self) -> None:
        for crop in (*self.bank_crops, *self.query_crops):
            if not 0 < crop < 45:
                raise InvalidVariantConfig(f"crop percentages must be 1 to 44, got {crop}")
        if self.work_side < MIN_GEOMETRY_SIDE:
            raise InvalidVariantConfig(f"work_side must be at least {MIN_GEOMETRY_SIDE}")
        if self.crop_side != 0 and not 32 <= self.crop_side <= 512:
            raise InvalidVariantConfig(f"crop_side must be 0 or 32 to 512, got {self.crop_side}")
        unknown = [n for n in self.orientations if n not in _ORIENTATIONS]
        if unknown:
            known = ", ".join(_ORIENTATIONS)
            raise InvalidVariantConfig(f"unknown orientation(s) {unknown}; known: {known}")
        if not 0 < self.max_angle <= 30:
            raise InvalidVariantConfig(f"max_angle must be in (0, 30], got {self.max_angle}")


DEFAULT_CONFIG: Final = VariantConfig()


# --------------------------------------------------------------------------- public entry points


def bank_variants(
    rgb: Any, config: VariantConfig = DEFAULT_CONFIG, *, plain: tuple[bytes, int] | None = None
) -> list[Variant]:
    """Hashes to store for a known image: plain, ``trim`` if it has borders, central crops and
    the centred square.

    ``plain`` is the image's PDQ hash and quality when the caller has it already (it is the most
    expensive hash here: the only one of the full pixels)."""
    pixels = _checked(rgb)
    out = _Collector(config.min_quality)
    out.add("", *(plain or pdq_hash(pixels)))
    if min(pixels.shape[:2]) < MIN_GEOMETRY_SIDE:
        return out.variants
    views = _Views(pixels, config.work_side)
    if config.trim:
        box = views.in_work(_trim_grey(views.grey, _TRIM_TOLERANCE, _SHARE))
        if box is not None:
            out.hash("trim", _cut(views.work, box))
    for percent in config.bank_crops:
        out.hash(f"crop:{percent}", views.crop(percent / 100, config.crop_side))
    height, width = views.grey.shape
    if config.square and config.crop_side > 0 and abs(width / height - 1) > 0.1:
        out.hash("square", _square_crop(views.canon, config.crop_side))
    return out.variants


def query_variants(
    rgb: Any, config: VariantConfig = DEFAULT_CONFIG, *, plain: tuple[bytes, int] | None = None
) -> list[Variant]:
    """Hashes to look up for an uploaded image (see the module docstring for the names).

    ``plain``: the image's PDQ hash and quality when the caller has it already (without
    ``dihedral``; with it the shortcut computes the plain hash anyway)."""
    pixels = _checked(rgb)
    out = _Collector(config.min_quality)
    if config.dihedral:
        values, quality = pdq_hash_dihedral(pixels)
        plain_value = values[0]
        for name, value in zip(DIHEDRAL_VARIANTS, values, strict=True):
            out.add(name, value, quality)
    else:
        plain_value, quality = plain or pdq_hash(pixels)
        out.add("", plain_value, quality)
    if min(pixels.shape[:2]) < MIN_GEOMETRY_SIDE:
        return out.variants
    views = _Views(pixels, config.work_side)
    # The upload turned back by each quarter turn (and mirrored), for real, on the small copy.
    # PDQ's own dihedral shortcut is free but not exact (its blur and sampling are not
    # symmetric): on images with sharp grids a mirrored copy lands 40+ bits away. Photos of
    # fine repetitive detail alias when shrunk (their PDQ moves 30-50 bits at half size):
    # those are turned at working resolution instead.
    if config.orientations:
        full = views.drifts_when_shrunk(plain_value)
        for name in config.orientations:
            out.hash(name, views.oriented(name, full=full))
    for percent in config.query_crops:
        out.hash(f"crop:{percent}", views.crop(percent / 100, config.crop_side))
    boxes: list[Box] = []
    if config.trim:
        found = _trim_grey(views.grey, _TRIM_TOLERANCE, _SHARE)
        box = views.in_work(found)
        if found is not None and box is not None:
            boxes.append(box)
            out.hash("trim", _cut(views.work, box))
            symmetric = views.in_work(_symmetric(found, *views.grey.shape))
            if symmetric is not None and not _same_box(symmetric, box):
                boxes.append(symmetric)
                out.hash("trim_sym", _cut(views.work, symmetric))
    if config.frame:
        frame_grey = views.frame_grey
        found_frame = _frame_grey(frame_grey, _SHARE, _FRAME_MIN_AREA)
        box = views.in_work(found_frame, (frame_grey.shape[0], frame_grey.shape[1]))
        if box is not None and all(not _same_box(box, other) for other in boxes):
            out.hash("frame", _cut(views.work, box))
    if (
        config.rotation
        and _corners_agree(views.grey, _FILL_TOLERANCE)
        and _shared_colour(views.corner_patches(), _FILL_TOLERANCE) is not None
    ):
        rotation = estimate_rotation(views.tiny, max_angle=config.max_angle)
        if rotation is not None:
            for name, image in _derotated(views.small, rotation, config):
                out.hash(name, image)
    return out.variants


class _Views:
    """The copies of one image the variants need, each made once and only when needed.

    ``work`` is the pixels (longer side at most ``work_side``) as an array and ``picture`` as a
    Pillow image; ``small`` (at most 512 on a side) is where borders are found (``grey``) and
    rotations undone; frames are found on ``frame_grey`` (at most 256); ``canon`` (at most 192)
    is the source of the canonical crops; ``tiny`` (256) is where rotations are found. Copies
    stay Pillow images where they can: converting RGB between Pillow and NumPy costs about as
    much as a PDQ hash of the same pixels.
    """

    def __init__(self, pixels: U8, work_side: int) -> None:
        self.work = _working_copy(pixels, work_side)
        self.picture = Image.fromarray(self.work)
        factor = math.ceil(max(self.work.shape[:2]) / _DETECT_SIDE)
        self.small_picture = self.picture.reduce(factor) if factor > 1 else self.picture
        self.grey = np.asarray(self.small_picture.convert("L"))
        factor = math.ceil(max(self.grey.shape) / _FRAME_SIDE)
        self.frame_grey = (
            np.asarray(Image.fromarray(self.grey).reduce(factor)) if factor > 1 else self.grey
        )
        factor = math.ceil(max(self.grey.shape) / _CANON_SOURCE_SIDE)
        self.canon = self.small_picture.reduce(factor) if factor > 1 else self.small_picture
        self._small: U8 | None = None
        self._tiny: U8 | None = None

    @property
    def small(self) -> U8:
        if self._small is None:
            self._small = np.asarray(self.small_picture)
        return self._small

    @property
    def tiny(self) -> U8:
        if self._tiny is None:
            self._tiny = _resized_copy(self.small, _ROTATION_SIDE, self.small_picture)
        return self._tiny

    def oriented(self, name: str, *, full: bool = False) -> U8:
        """``small`` (or with ``full`` the working copy) turned or flipped (see
        :data:`_ORIENTATIONS`; hashing every image's turns at working size would cost four
        times as much, for the one photo in eighty that :meth:`drifts_when_shrunk` catches)."""
        return _ORIENTATIONS[name](self.work if full else self.small)

    def drifts_when_shrunk(self, plain: bytes) -> bool:
        """Whether the PDQ of ``small`` lies more than :data:`_SHRINK_DRIFT` bits from the
        ``plain`` hash of the full pixels: then hashes of ``small`` cannot be trusted to land
        near the bank's hash of the original, which was taken at full size."""
        if self.small_picture is self.picture:
            return False
        value, _ = pdq_hash(self.small)
        return _PDQ.distance(value, plain) > _SHRINK_DRIFT

    def corner_patches(self) -> U8:
        """The four 3x3 corner patches of ``small`` (without converting all of it)."""
        width, height = self.small_picture.size
        boxes = (
            (0, 0, 3, 3),
            (width - 3, 0, width, 3),
            (0, height - 3, 3, height),
            (width - 3, height - 3, width, height),
        )
        return np.stack([np.asarray(self.small_picture.crop(box)) for box in boxes])

    def in_work(self, box: Box | None, found_on: tuple[int, int] | None = None) -> Box | None:
        """A box found on ``small`` (or on an image of shape ``found_on``), in ``work`` pixels."""
        height, width = found_on or self.grey.shape
        if box is None or (height, width) == self.work.shape[:2]:
            return box
        return box.scaled(self.work.shape[0] / height, self.work.shape[1] / width)

    def crop(self, fraction: float, side: int) -> U8:
        if side <= 0:
            return central_crop(self.work, fraction)
        return _canonical_crop(self.canon, fraction, side)


def _canonical_crop(picture: Image.Image, fraction: float, side: int) -> U8:
    """The central crop removing ``fraction`` per side, resampled straight to side x side
    pixels: the exact (fractional) crop window, cheap, and the same on the bank and the query
    side whatever the two images' sizes."""
    width, height = picture.size
    window = (fraction * width, fraction * height, (1 - fraction) * width, (1 - fraction) * height)
    return np.asarray(picture.resize((side, side), Image.Resampling.BILINEAR, box=window))


def _square_crop(picture: Image.Image, side: int) -> U8:
    """The centred square (the whole short side), resampled to side x side pixels: what a
    square crop of a landscape or portrait photo (profile pictures, square feeds) keeps."""
    width, height = picture.size
    short = min(width, height)
    left, top = (width - short) / 2, (height - short) / 2
    window = (left, top, left + short, top + short)
    return np.asarray(picture.resize((side, side), Image.Resampling.BILINEAR, box=window))


# --------------------------------------------------------------------------- input and helpers


def _checked(rgb: Any) -> U8:
    array = np.asarray(rgb)
    if array.dtype != np.uint8:
        raise InvalidPixels(f"variants need uint8 RGB pixels, got dtype {array.dtype}")
    if array.ndim != 3 or array.shape[2] != 3:
        raise InvalidPixels(f"variants need pixels of shape (height, width, 3), got {array.shape}")
    if min(array.shape[:2]) < MIN_SIDE:
        raise ImageTooSmall(
            f"image is {array.shape[1]}x{array.shape[0]} pixels; PDQ needs at least "
            f"{MIN_SIDE} on each side"
        )
    return np.ascontiguousarray(array)


class _Collector:
    """Keeps variants in order, once per distinct hash, dropping low-quality (flat) ones."""

    def __init__(self, min_quality: int) -> None:
        self.min_quality = min_quality
        self.variants: list[Variant] = []
        self._seen: set[bytes] = set()

    def add(self, name: str, value: bytes, quality: int) -> None:
        if quality < self.min_quality or value in self._seen:
            return
        self._seen.add(value)
        self.variants.append(Variant(name, value, quality))

    def hash(self, name: str, image: U8) -> None:
        if min(image.shape[:2]) < MIN_SIDE:
            return
        self.add(name, *pdq_hash(image))  # views are hashed in place, without a copy


def _working_copy(pixels: U8, side: int) -> U8:
    """``pixels`` shrunk by the smallest integer factor that brings the longer side to at most
    ``side`` (box-filtered; an integer factor is several times faster than a free resize)."""
    factor = math.ceil(max(pixels.shape[:2]) / side)
    if factor <= 1:
        return pixels
    return np.asarray(Image.fromarray(pixels).reduce(factor))


def _resized_copy(pixels: U8, side: int, picture: Image.Image | None = None) -> U8:
    """``pixels`` box-resized so that the longer side is ``side`` (unchanged if smaller);
    ``picture`` is the same pixels as a Pillow image, when the caller has one."""
    height, width = pixels.shape[:2]
    scale = side / max(height, width)
    if scale >= 1:
        return pixels
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    source = picture if picture is not None else Image.fromarray(pixels)
    return np.asarray(source.resize(size, Image.Resampling.BOX))


def _cut(image: U8, box: Box) -> U8:
    return image[box.top : box.bottom, box.left : box.right]


def _symmetric(box: Box, height: int, width: int) -> Box | None:
    """The box trimmed only as much on each side as on the opposite one.

    Padding and letterboxing are nearly always centred; when the trim went further on one side,
    the photo itself has a plain edge of the border's colour (a night sky against black bars),
    and the symmetric box is the likelier original. None when the trim is already symmetric.
    """
    top_bottom = min(box.top, height - box.bottom)
    left_right = min(box.left, width - box.right)
    symmetric = Box(top_bottom, left_right, height - top_bottom, width - left_right)
    return None if symmetric == box else symmetric


def _same_box(a: Box, b: Box, tolerance: float = 0.01) -> bool:
    limit = tolerance * max(a.width, a.height, b.width, b.height)
    return all(
        abs(x - y) <= limit
        for x, y in zip(
            (a.top, a.left, a.bottom, a.right), (b.top, b.left, b.bottom, b.right), strict=True
        )
    )


def central_crop(image: U8, fraction: float) -> U8:
    """The centre of an image with ``fraction`` of each dimension removed on every side.

    Bank and query crops both use this rounding, so the same fraction of the same image gives
    the same pixels on both sides.
    """
    height, width = image.shape[:2]
    dy, dx = round(fraction * height), round(fraction * width)
    return image[dy : height - dy, dx : width - dx]


def _grey_u8(image: U8) -> U8:
    """Luma (ITU-R 601 weights) as 8-bit grey, through Pillow (fast, no float copy)."""
    return np.asarray(Image.fromarray(image).convert("L"))


# --------------------------------------------------------------------------- uniform borders


def trim_box(rgb: Any, *, tolerance: int = 20, share: float = 0.97) -> Box | None:
    """The rectangle left after removing uniform borders, or None if there are none.

    The border colour (any colour) is the grey level shared by at least three of the four corner
    pixels. A line (row or column) belongs to the border while at least ``share`` of its pixels
    lie within ``tolerance`` grey levels of it; JPEG noise and a few stray pixels are tolerated,
    a gradient or texture is not. Only that one colour comes off: black bars around a photo on
    a white background leave the white in place, as it is in the original. Rows are trimmed,
    then columns within the remaining rows, then both again (pads on all four sides, letterbox
    and pillarbox). Returns None when nothing is trimmed or the rest is too small.
    """
    return _trim_grey(_grey_u8(_checked(rgb)), tolerance, share)


def _trim_grey(grey: U8, tolerance: int, share: float) -> Box | None:
    height, width = grey.shape
    corners = np.array([grey[0, 0], grey[0, -1], grey[-1, 0], grey[-1, -1]], dtype=np.int16)
    level = int(np.sort(corners)[1:3].mean())
    if int((np.abs(corners - level) <= tolerance).sum()) < 3:
        return None
    top, bottom, left, right = 0, height, 0, width
    for _ in range(2):
        top, bottom = _trim_lines(grey[:, left:right], top, bottom, level, tolerance, share)
        left, right = _trim_lines(grey[top:bottom].T, left, right, level, tolerance, share)
    box = Box(top, left, bottom, right)
    if (top, left, bottom, right) == (0, 0, height, width):
        return None
    if box.height < 0.2 * height or box.width < 0.2 * width or min(box.height, box.width) < 16:
        return None
    return box


def _trim_lines(
    grey: U8, start: int, stop: int, level: int, tolerance: int, share: float
) -> tuple[int, int]:
    """New [start, stop) along axis 0 after dropping lines of the border level at both ends."""
    limit = int(0.45 * grey.shape[0])

    def run(lines: U8) -> int:
        # Lines are checked a block at a time and the scan stops at the first non-border line,
        # so an image without borders costs one small block, not a pass over every pixel.
        if lines.shape[0] == 0 or lines.shape[1] == 0:
            return 0
        count, block = 0, 8
        while count < min(limit, lines.shape[0]):
            chunk = lines[count : count + block].astype(np.int16)
            close = (np.abs(chunk - level) <= tolerance).mean(axis=1) >= share
            if not close.all():
                return min(limit, count + int(np.argmin(close)))
            count += chunk.shape[0]
            block *= 2
        return min(limit, count)

    lines = grey[start:stop]
    return start + run(lines), stop - run(lines[::-1])


# --------------------------------------------------------------------------- UI framing


def frame_box(rgb: Any, *, share: float = 0.97, min_area: float = 0.12) -> Box | None:
    """The photo inside a screenshot-like frame (status bar, title bar, buttons, text), or None.

    UI chrome leaves at least one *uniform* line (a row or column of one grey level: at least
    ``share`` of it within a window of 24 levels) between its elements and around the photo; a
    photo has almost no uniform rows or columns. So the photo is the longest run of non-uniform
    rows, then the longest run of non-uniform columns within those rows, and so on, alternating
    until the box stops
    changing (text beside the photo breaks the first row pass; the column pass then cuts it off
    and the next row pass is clean). Returns None when the result is the whole image or covers
    under ``min_area`` of it.
    """
    return _frame_grey(_grey_u8(_checked(rgb)), share, min_area)


def _frame_grey(grey: U8, share: float, min_area: float) -> Box | None:
    height, width = grey.shape
    box = Box(0, 0, height, width)
    for _ in range(4):
        rows = _longest_busy_run(grey[:, box.left : box.right], share)
        if rows is None:
            return None
        columns = _longest_busy_run(grey[rows[0] : rows[1]].T, share)
        if columns is None:
            return None
        new = Box(rows[0], columns[0], rows[1], columns[1])
        if new == box:
            break
        box = new
    if box.height * box.width < min_area * height * width or min(box.height, box.width) < 16:
        return None
    if box.height >= 0.98 * height and box.width >= 0.98 * width:
        return None
    return box


def _longest_busy_run(grey: U8, share: float) -> tuple[int, int] | None:
    """[start, stop) of the longest run of lines (axis 0) that are not of one grey level."""
    uniform = _uniform_lines(grey, share)
    busy = np.flatnonzero(~uniform)
    if busy.size == 0:
        return None
    breaks = np.flatnonzero(np.diff(busy) > 1)
    starts = np.concatenate(([busy[0]], busy[breaks + 1]))
    stops = np.concatenate((busy[breaks], [busy[-1]])) + 1
    best = int(np.argmax(stops - starts))
    return int(starts[best]), int(stops[best])


def _uniform_lines(grey: U8, share: float) -> NDArray[np.bool_]:
    """Lines (axis 0) with at least ``share`` of their pixels in three adjacent grey bins of 8
    levels (a window of 24 levels): one 32-bin histogram per line."""
    lines, length = grey.shape
    if length == 0:
        return np.ones(lines, dtype=bool)
    bins = (grey >> 3).astype(np.int32) + (np.arange(lines, dtype=np.int32) * 32)[:, None]
    counts = np.bincount(bins.ravel(), minlength=32 * lines).reshape(lines, 32)
    window = counts[:, :-2] + counts[:, 1:-1] + counts[:, 2:]
    return np.asarray(window.max(axis=1) >= share * length)


# --------------------------------------------------------------------------- small rotations


def estimate_rotation(
    rgb: Any, *, max_angle: float = 12.0, min_angle: float = 1.0, tolerance: int = _FILL_TOLERANCE
) -> Rotation | None:
    """Detect a small rotation that left corners of a uniform fill colour, or return None.

    Rotating a photo by a few degrees leaves four triangles of fill (black, white, any colour) in
    the corners, either inside the same canvas or in a canvas grown to hold it. The runs of fill
    from each edge of every row and column then follow straight lines whose slope is the angle.
    We fit the angle (and whether the canvas grew) to those runs. The fit is asymmetric: a
    predicted fill pixel that is not fill costs four times as much as an observed fill pixel the
    model leaves out, because dark content next to the fill lengthens observed runs but nothing
    shortens them. Accepted only when the angle is at least ``min_angle`` (PDQ shrugs off less),
    no predicted fill pixel is content, and at least 40% of the lines that should end in fill
    end exactly (+-1.5 pixels) where predicted: a photo on a plain background of the corner
    colour fits some rotated rectangle too, but its runs do not stop at the predicted edge.
    """
    image = _checked(rgb)
    height, width = image.shape[:2]
    if min(height, width) < MIN_GEOMETRY_SIDE // 2:
        return None
    fill = _corner_fill(image, tolerance)
    if fill is None:
        return None
    apart = np.abs(image.astype(np.int16) - np.asarray(fill, dtype=np.int16))
    # The largest channel difference (np.maximum of the three planes: max(axis=2) over an axis
    # of three is several times slower).
    distance = np.maximum(np.maximum(apart[..., 0], apart[..., 1]), apart[..., 2])
    observed = _observed_runs(distance <= tolerance)
    if not _corners_only(observed, height, width) or not _corner_triangles(
        observed, height, width, min_angle, max_angle
    ):
        return None
    cap = 0.05 * min(height, width)
    # Coarse to fine: 1 degree steps in both canvas modes, then 0.2 in the better mode, then
    # 0.04 together with a small inset of the rectangle (edge pixels blended by resampling count
    # as fill or not depending on the content's brightness, which would bias the angle).
    coarse = np.arange(-max_angle, max_angle + 0.5, 1.0, dtype=np.float64)
    fits = [
        (_best_fit(observed, (height, width), coarse, mode, (0.0,), cap, every=4), mode)
        for mode in (False, True)
    ]
    (_, centre, _), best_expanded = min(fits)
    _, centre, _ = _best_fit(
        observed,
        (height, width),
        centre + 0.2 * np.arange(-5, 6, dtype=np.float64),
        best_expanded,
        (0.0,),
        cap,
        every=2,
    )
    insets = (-1.0, -0.5, 0.0, 0.5, 1.0)
    _, best_angle, best_inset = _best_fit(
        observed,
        (height, width),
        centre + 0.04 * np.arange(-7, 8, dtype=np.float64),
        best_expanded,
        insets,
        cap,
        every=2,
    )
    if abs(best_angle) < min_angle:
        return None
    runs, weights = _predicted_runs(
        height, width, np.array([best_angle]), best_expanded, best_inset
    )
    predicted, weight = runs[0], weights[0]
    across = (observed - predicted) * weight
    violation = float(np.clip(-across - 1.0, 0, cap).mean())
    explained = float(predicted.mean())
    inside = predicted > 0.5
    agreement = float((np.abs(across)[inside] <= 1.5).mean()) if inside.any() else 0
    if explained < 0.3 or violation > 0.05 * explained or agreement < 0.4:
        return None
    return Rotation(best_angle, best_expanded, fill, violation)


def _corners_only(observed: F32, height: int, width: int) -> bool:
    """Cheap test before any fitting: a rotated photo touches the sides of the canvas (some
    line on a side has no fill run; dark content may hide up to two sides), and few lines are
    fill from end to end. Padding (every line on a side starts with fill) and UI bars of the
    corner colour (whole rows of fill) fail it."""
    sides = np.split(observed, [height, 2 * height, 2 * height + width])
    lengths = (width, width, height, height)
    if sum(int(side.min() <= 2) for side in sides) < 2:
        return False
    full = sum(int((side >= length).sum()) for side, length in zip(sides, lengths, strict=True))
    return full <= 0.08 * observed.size


def _sample_lines(observed: F32, height: int, width: int, every: int) -> F32:
    """Every ``every``-th line of each of the four run segments (left, right, top, bottom)."""
    if every == 1:
        return observed
    sides = np.split(observed, [height, 2 * height, 2 * height + width])
    return np.concatenate([side[::every] for side in sides])


def _corner_triangles(
    observed: F32, height: int, width: int, min_angle: float, max_angle: float
) -> bool:
    """Cheap test before any fitting: the corners' fill forms right triangles whose legs (the
    runs along the edge row and the edge column) give about the same angle, within the range
    searched (one such corner is enough when dark content hides the others). A photo on a plain
    background seldom passes; a rotated one does unless its content is of the fill colour.

    The legs are read on the canvas's edge lines and, failing that, on the first lines that are
    not fill from end to end (on a grown canvas the edge lines are: the rotated corners touch
    them only within a pixel)."""
    left, right = observed[:height], observed[height : 2 * height]
    top, bottom = observed[2 * height : 2 * height + width], observed[2 * height + width :]
    rows = np.flatnonzero(left < width)
    columns = np.flatnonzero(top < height)
    if rows.size == 0 or columns.size == 0:
        return False
    for r0, r1, c0, c1 in (
        (0, height - 1, 0, width - 1),
        (int(rows[0]), int(rows[-1]), int(columns[0]), int(columns[-1])),
    ):
        legs = (
            (left[r0], top[c0]),
            (right[r0], top[c1]),
            (left[r1], bottom[c0]),
            (right[r1], bottom[c1]),
        )
        angles = [
            math.degrees(math.atan(min(a, b) / max(a, b)))
            for a, b in legs
            if 1 <= a < width and 1 <= b < height
        ]
        plausible = [a for a in angles if 0.5 * min_angle <= a <= 1.2 * max_angle]
        if len(plausible) >= 2:
            spread = max(plausible) - min(plausible)
            if spread <= 1.0 + 0.4 * min(plausible) or len(plausible) >= 3:
                return True
        elif len(plausible) == 1 and len(angles) <= 2:
            return True
    return False


def _best_fit(
    observed: F32,
    shape: tuple[int, int],
    angles: NDArray[np.float64],
    expanded: bool,
    insets: tuple[float, ...],
    cap: float,
    every: int = 1,
) -> tuple[float, float, float]:
    """(error, angle, inset) of the best fit among ``angles`` x ``insets``, on every
    ``every``-th line."""
    lines = _sample_lines(observed, *shape, every)
    grid_angles = np.repeat(np.asarray(angles, dtype=np.float64), len(insets))
    grid_insets = np.tile(np.asarray(insets, dtype=np.float64), len(angles))
    predicted = _predicted_runs(*shape, grid_angles, expanded, grid_insets, every)
    errors = _run_errors(lines, predicted, cap)
    index = int(np.argmin(errors))
    return float(errors[index]), float(grid_angles[index]), float(grid_insets[index])


def _corners_agree(grey: U8, tolerance: int) -> bool:
    """Whether at least three corner pixels share a grey level: the cheap gate before looking
    for a rotation (a rotated photo has fill in all four corners)."""
    corners = np.array([grey[0, 0], grey[0, -1], grey[-1, 0], grey[-1, -1]], dtype=np.int16)
    middle = int(np.sort(corners)[1:3].mean())
    return int((np.abs(corners - middle) <= tolerance).sum()) >= 3


def _corner_fill(image: U8, tolerance: int) -> tuple[int, int, int] | None:
    """The colour shared by at least three of the four corners (3x3 means), or None."""
    patches = np.stack([image[:3, :3], image[:3, -3:], image[-3:, :3], image[-3:, -3:]])
    return _shared_colour(patches, tolerance)


def _shared_colour(patches: U8, tolerance: int) -> tuple[int, int, int] | None:
    """The colour shared by at least three of four corner patches (their means), or None."""
    colours = patches.reshape(4, -1, 3).mean(axis=1)
    centre = np.sort(colours, axis=0)[1:3].mean(axis=0)  # median of four
    agree = np.abs(colours - centre).max(axis=1) <= tolerance
    if agree.sum() < 3:
        return None
    r, g, b = (round(float(c)) for c in colours[agree].mean(axis=0))
    return (r, g, b)


def _observed_runs(mask: NDArray[np.bool_]) -> F32:
    """Fill run lengths from the left and right of each row, then from the top and bottom of
    each column, concatenated."""

    def leading(m: NDArray[np.bool_]) -> F32:
        not_fill = ~m
        first = np.argmax(not_fill, axis=1)
        runs: F32 = np.where(not_fill.any(axis=1), first, m.shape[1]).astype(np.float32)
        return runs

    return np.concatenate(
        [leading(mask), leading(mask[:, ::-1]), leading(mask.T), leading(mask.T[:, ::-1])]
    )


def _predicted_runs(
    height: int,
    width: int,
    angles: NDArray[np.float64],
    expanded: bool,
    inset: float | NDArray[np.float64] = 0.0,
    every: int = 1,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Fill runs (one row per angle) for a centred rectangle rotated inside the canvas, and for
    each run the factor that turns its error into a distance across the boundary it ends on.

    Same canvas: the rectangle is the canvas. Expanded: the rectangle whose rotated bounding box
    is the canvas. ``inset`` (one value, or one per angle) shrinks the rectangle on every side.
    A canvas point (x, y) relative to the centre came from (u, v) = (x c - y s, x s + y c) of
    the rectangle (Pillow's counter-clockwise rotation with y pointing down). A row ending on a
    nearly horizontal edge has a long, ill-conditioned run (a tenth of a pixel across the edge
    moves it by pixels); the factor (the sine of the angle between line and edge) keeps such
    runs from biasing the fit.
    ``every`` > 1 predicts only every so many lines (see :func:`_sample_lines`).
    """
    theta = np.radians(np.asarray(angles, dtype=np.float64))[:, None]
    c, s = np.cos(theta), np.sin(theta)
    if expanded:
        ac, as_ = np.abs(c), np.abs(s)
        det = ac * ac - as_ * as_
        half_w = (width * ac - height * as_) / det / 2
        half_h = (height * ac - width * as_) / det / 2
    else:
        half_w = np.full_like(c, width / 2)
        half_h = np.full_like(c, height / 2)
    shrink = np.broadcast_to(np.asarray(inset, dtype=np.float64), (theta.shape[0],))[:, None]
    half_w, half_h = half_w - shrink, half_h - shrink
    count = theta.shape[0]

    def runs(along: int, across: int, rows: bool) -> tuple[NDArray[np.float64], ...]:
        t = (np.arange(0, across, every, dtype=np.float64) + 0.5 - across / 2)[None, :]
        if rows:  # y = t fixed, x = p varies: u = p c - t s, v = p s + t c
            terms = ((c, -t * s, half_w), (s, t * c, half_h))
        else:  # x = t fixed, y = p varies: u = t c - p s, v = t s + p c
            terms = ((-s, t * c, half_w), (c, t * s, half_h))
        lines = t.shape[1]
        lo = np.full((count, lines), -np.inf)
        hi = np.full((count, lines), np.inf)
        lo_w = np.ones((count, lines))
        hi_w = np.ones((count, lines))
        for coef, offset, half in terms:
            safe = np.where(np.abs(coef) < 1e-12, 1e-12, coef)
            p1, p2 = (-half - offset) / safe, (half - offset) / safe
            low, high = np.minimum(p1, p2), np.maximum(p1, p2)
            weight = np.broadcast_to(np.abs(coef), lo.shape)
            lo_w = np.where(low > lo, weight, lo_w)
            hi_w = np.where(high < hi, weight, hi_w)
            lo, hi = np.maximum(lo, low), np.minimum(hi, high)
        empty = lo > hi
        first = lo + along / 2
        last = along / 2 - hi
        lo_w = np.where(empty | (first <= 0) | (first >= along), 1.0, lo_w)
        hi_w = np.where(empty | (last <= 0) | (last >= along), 1.0, hi_w)
        # Observed runs count whole pixels (those whose centre lies in the fill), so the
        # prediction counts them the same way.
        first = np.where(empty, along, np.clip(np.floor(first + 0.5), 0, along))
        last = np.where(empty, along, np.clip(np.floor(last + 0.5), 0, along))
        return first, last, lo_w, hi_w

    left, right, left_w, right_w = runs(width, height, True)
    top, bottom, top_w, bottom_w = runs(height, width, False)
    return (
        np.concatenate([left, right, top, bottom], axis=1),
        np.concatenate([left_w, right_w, top_w, bottom_w], axis=1),
    )


def _run_errors(
    observed: F32, predicted: tuple[NDArray[np.float64], NDArray[np.float64]], cap: float
) -> NDArray[np.float64]:
    """Mean per-line error across the boundary for each angle (see :func:`estimate_rotation`)."""
    runs, weights = predicted
    slack = np.clip((observed[None, :] - runs) * weights, 0, cap)
    violation = np.clip((runs - observed[None, :]) * weights - 1.0, 0, cap)
    return np.asarray((slack + 4 * violation).mean(axis=1))


def _derotated(small: U8, rotation: Rotation, config: VariantConfig) -> list[tuple[str, U8]]:
    """The rotation undone: ``derot`` (corners filled) and ``derot_crop:N`` (bank crop cut).

    Works on the detection copy (longer side <= 512): a rotation is rare, and undoing it at full
    size would cost more than every other variant together.
    """
    height, width = small.shape[:2]
    back = Image.fromarray(small).rotate(
        -rotation.angle, resample=Image.Resampling.BILINEAR, fillcolor=rotation.fill
    )
    if rotation.expanded:
        theta = math.radians(rotation.angle)
        ac, as_ = abs(math.cos(theta)), abs(math.sin(theta))
        det = ac * ac - as_ * as_
        w = (width * ac - height * as_) / det
        h = (height * ac - width * as_) / det
        top, left = round((height - h) / 2), round((width - w) / 2)
        box = Box(top + 1, left + 1, top + round(h) - 1, left + round(w) - 1)
        if box.height < MIN_SIDE or box.width < MIN_SIDE:
            return []
        return [("derot", np.asarray(back.crop((box.left, box.top, box.right, box.bottom))))]
    # Valid pixels of the de-rotated image: those that were inside the rotated canvas. That
    # region is the canvas turned the other way, so its per-row extent is known exactly.
    runs = _predicted_runs(height, width, np.array([-rotation.angle]), False)[0][0]
    left, right = runs[:height, None], runs[height : 2 * height, None]
    columns = np.arange(width)[None, :]
    valid = (columns >= left + 1.5) & (columns < width - right - 1.5)
    out = [("derot", _fill_holes(back, valid))]
    needed = _inscribed_crop(height, width, rotation.angle)
    for percent in sorted(config.bank_crops):
        if percent / 100 >= needed + 0.003:
            if config.crop_side > 0:
                factor = math.ceil(max(height, width) / _CANON_SOURCE_SIDE)
                source = back.reduce(factor) if factor > 1 else back
                pixels = _canonical_crop(source, percent / 100, config.crop_side)
            else:
                pixels = central_crop(np.asarray(back), percent / 100)
            out.append((f"derot_crop:{percent}", pixels))
            break
    return out


def _inscribed_crop(height: int, width: int, angle: float) -> float:
    """Smallest per-side crop fraction whose centred rectangle survives a same-canvas rotation."""
    theta = math.radians(angle)
    c, s = abs(math.cos(theta)), abs(math.sin(theta))
    keep = min(width / (width * c + height * s), height / (width * s + height * c))
    return (1 - keep) / 2


def _fill_holes(picture: Image.Image, valid: NDArray[np.bool_]) -> U8:
    """Fill invalid pixels with a smooth guess from their surroundings.

    PDQ sees mostly low frequencies, so a smooth guess of the lost corners is far closer to the
    original than black triangles are. The guess is made at 1/8 scale (valid-pixel averages,
    spread outwards into the holes one cell at a time), scaled up, and used only where pixels
    are invalid. All full-size work is done by Pillow.
    """
    height, width = valid.shape
    if valid.all():
        return np.asarray(picture)
    mask = Image.fromarray(valid.astype(np.uint8) * 255)
    premultiplied = Image.composite(picture, Image.new("RGB", picture.size), mask)
    size = (max(1, width // 8), max(1, height // 8))
    colour = np.asarray(premultiplied.resize(size, Image.Resampling.BOX), dtype=np.float32)
    weight: F32 = np.asarray(mask.resize(size, Image.Resampling.BOX), dtype=np.float32)
    weight /= 255
    guess = Image.fromarray(_spread(colour, weight)).resize(
        (width, height), Image.Resampling.BILINEAR
    )
    return np.asarray(Image.composite(picture, guess, mask))


def _spread(colour: F32, weight: F32) -> U8:
    """Average colour where enough of a cell is valid, then grow it into the empty cells: each
    round fills the cells next to known ones with the mean of their known neighbours."""
    known = weight > 0.2
    estimate = np.zeros_like(colour)
    estimate[known] = colour[known] / weight[known][:, None]
    for _ in range(max(colour.shape[:2])):
        if known.all() or not known.any():
            break
        padded = np.pad(estimate * known[..., None], ((1, 1), (1, 1), (0, 0)))
        count = np.pad(known.astype(np.float32), 1)
        total = np.zeros_like(estimate)
        neighbours = np.zeros_like(weight)
        rows, columns = known.shape
        for dy in range(3):
            for dx in range(3):
                total += padded[dy : dy + rows, dx : dx + columns]
                neighbours += count[dy : dy + rows, dx : dx + columns]
        fresh = ~known & (neighbours > 0)
        estimate[fresh] = total[fresh] / neighbours[fresh][:, None]
        known = known | fresh
    spread: U8 = np.clip(estimate + 0.5, 0, 255).astype(np.uint8)
    return spread

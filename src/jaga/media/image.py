"""Decoding still and animated images to RGB pixels, within limits.

One call opens the image (header only), checks the limits on the numbers in the header,
optionally asks libjpeg for a reduced decode, then decodes each frame once and converts it to
RGB exactly as Pillow's ``convert("RGB")`` does (see :mod:`jaga.media.pixels`).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field, replace

import numpy as np
from PIL import Image

from jaga.errors import InvalidInput
from jaga.media._pillow import DECODE_ERRORS, pillow_errors
from jaga.media.errors import CorruptMedia, MediaTooLarge, UnsupportedMedia
from jaga.media.gifscan import count_gif_frames
from jaga.media.limits import DEFAULT_LIMITS, MediaLimits, check_byte_size, check_frame_size
from jaga.media.pixels import exif_orientation, orient, rgb_array, swaps_sides, to_rgb
from jaga.media.sniff import sniff

#: Formats decoded by libjpeg, where ``Image.draft`` gives DCT-domain downscaling.
_DRAFT_FORMATS = frozenset({"JPEG", "MPO"})
#: libjpeg's DCT reductions, largest first.
_REDUCTIONS = (8, 4, 2)


@dataclass(frozen=True)
class ImageFrame:
    """One frame: its position in the file, its RGB pixels, how long it shows (animations).

    ``rgb`` is read-only (it wraps the bytes Pillow produced, without another copy)."""

    index: int
    rgb: np.ndarray  # (H, W, 3) uint8, C-contiguous, read-only
    duration_ms: int | None


@dataclass(frozen=True)
class DecodedImage:
    """A decoded image: what the header said, and the RGB frames."""

    format: str  # Pillow's format name: "JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "HEIF"...
    mode: str  # Pillow mode of the file (first frame), before conversion to RGB
    width: int  # full-resolution size after EXIF orientation (even when scale > 1)
    height: int
    scale: int  # 1 for a full decode, else the libjpeg DCT reduction (2, 4 or 8)
    frames: list[ImageFrame]
    # Frames in the file: len(frames), or more when decoded with all_frames=False.
    frame_count: int = 0
    orientation: int = 1  # the EXIF orientation applied (1 when none or apply_exif=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "frame_count", max(self.frame_count, len(self.frames)))

    @property
    def animated(self) -> bool:
        """More than one frame in the file (animated GIF/WebP/PNG, multi-page TIFF...)."""
        return self.frame_count > 1


def decode_image(
    data: bytes,
    *,
    limits: MediaLimits = DEFAULT_LIMITS,
    min_side: int | None = None,
    apply_exif: bool = True,
    all_frames: bool = True,
) -> DecodedImage:
    """Decode the image ``data`` to RGB frames.

    ``min_side``: for JPEG, decode at the largest libjpeg reduction (1/2, 1/4, 1/8) whose short
    side stays >= ``min_side`` (``scale`` says which); other formats decode at full size.
    ``apply_exif``: turn the pixels upright per the EXIF orientation, as
    ``ImageOps.exif_transpose`` does. ``all_frames``: every frame of an animated or multi-page
    image; False decodes the first frame only (``frame_count`` still counts them all).

    Raises UnsupportedMedia (not an image we decode), CorruptMedia (empty, truncated,
    undecodable) or MediaTooLarge (over ``limits``, checked on header numbers before decoding).
    """
    if min_side is not None and (isinstance(min_side, bool) or min_side < 1):
        raise InvalidInput(f"min_side must be None or >= 1, got {min_side!r}")
    check_byte_size(len(data), limits)
    sniffed = sniff(data)
    if sniffed.kind != "image":
        raise UnsupportedMedia(f"expected an image, got a video ({sniffed.format})")
    with (
        pillow_errors(sniffed.format),
        Image.open(io.BytesIO(data), formats=list(sniffed.decoders)) as image,
    ):
        return _Decoder(image, data, limits, apply_exif).run(min_side, all_frames)


@dataclass
class _Decoder:
    """The state of one decode_image call, inside the Pillow error scope."""

    image: Image.Image
    data: bytes
    limits: MediaLimits
    apply_exif: bool
    format: str = ""
    pixels: int = 0  # pixels decoded so far, all frames
    mode: str = ""  # of the first frame, before conversion
    frames: list[ImageFrame] = field(default_factory=list)

    def run(self, min_side: int | None, all_frames: bool) -> DecodedImage:
        image = self.image
        self.format = image.format or "image"
        self.mode = image.mode
        width, height = image.size
        self._check_size(0)
        frame_count = self._count_frames()
        if frame_count > self.limits.max_frames:
            raise MediaTooLarge(
                f"{self.format} has more than {self.limits.max_frames} frames (the limit)"
            )
        if all_frames and frame_count * width * height > self.limits.max_total_pixels:
            raise MediaTooLarge(
                f"{self.format} has {frame_count} frames of {width}x{height}, over the limit "
                f"of {self.limits.max_total_pixels} pixels in all"
            )
        orientation = self._orientation()
        scale = _draft(image, min_side) if min_side is not None else 1
        self._add_frame(0, orientation)
        if all_frames and self.format != "MPO":  # MPO: see _count_frames
            self._add_more_frames()
            frame_count = len(self.frames)
        if frame_count == 1:
            self.frames[0] = replace(self.frames[0], duration_ms=None)  # a still image
        if swaps_sides(orientation):
            width, height = height, width
        return DecodedImage(
            format=self.format,
            mode=self.mode,
            width=width,
            height=height,
            scale=scale,
            frames=self.frames,
            frame_count=frame_count,
            orientation=orientation,
        )

    def _count_frames(self) -> int:
        """Frames in the file, counted no further than one past the limit, without decoding."""
        cap = self.limits.max_frames + 1
        if self.format == "MPO":
            # The extra pictures of a multi-picture JPEG are previews or the second view of a
            # stereo pair, not frames of an animation: the primary image stands for the file.
            return 1
        if self.format == "GIF":
            return count_gif_frames(self.data, cap)
        if self.format == "TIFF":
            # Pillow's n_frames walks the whole IFD chain; walk it ourselves, up to the cap.
            count = 1
            while count < cap:
                try:
                    self.image.seek(count)
                except EOFError:
                    break
                count += 1
            self.image.seek(0)
            return count
        # PNG (acTL), WebP, HEIF, AVIF: the count is in the header.
        return max(1, int(getattr(self.image, "n_frames", 1)))

    def _add_more_frames(self) -> None:
        """Frames 1, 2... as Pillow finds them (the up-front count is only a first check)."""
        index = 1
        while True:
            try:
                self.image.seek(index)
            except EOFError:
                break
            if index >= self.limits.max_frames:
                raise MediaTooLarge(
                    f"{self.format} has more than {self.limits.max_frames} frames (the limit)"
                )
            self._add_frame(index, self._orientation())
            index += 1

    def _add_frame(self, index: int, orientation: int) -> None:
        image = self.image
        if index:
            self._check_size(index)
        width, height = image.size
        self.pixels += width * height
        if self.pixels > self.limits.max_total_pixels:
            raise MediaTooLarge(
                f"{self.format} frames add up to over {self.limits.max_total_pixels} pixels "
                f"(the limit) at frame {index}"
            )
        image.load()
        rgb = rgb_array(to_rgb(orient(image, orientation)))
        self.frames.append(ImageFrame(index, rgb, _duration_ms(image.info.get("duration"))))

    def _check_size(self, index: int) -> None:
        width, height = self.image.size
        what = f"{self.format} image" if index == 0 else f"{self.format} frame {index}"
        if width < 1 or height < 1:
            raise CorruptMedia(f"corrupt {what}: size {width}x{height}")
        check_frame_size(width, height, self.limits, what)

    def _orientation(self) -> int:
        if not self.apply_exif:
            return 1
        try:
            return exif_orientation(self.image)
        except DECODE_ERRORS:
            # Unreadable EXIF does not make the pixels unreadable: hash them as stored.
            return 1


def _draft(image: Image.Image, min_side: int) -> int:
    """Ask libjpeg for the largest DCT reduction keeping the short side >= ``min_side``.

    The decoded size is ceil(side / scale). Rotation by EXIF does not change the short side."""
    if image.format not in _DRAFT_FORMATS:
        return 1
    width, height = image.size
    short = min(width, height)
    for scale in _REDUCTIONS:
        if short >= scale and -(-short // scale) >= min_side:
            break
    else:
        return 1
    # Pillow picks the largest reduction r with min(width // w, height // h) >= r; asking for
    # (width // scale, height // scale) makes that exactly ``scale``.
    configured = image.draft("RGB", (width // scale, height // scale))
    if configured is None:
        return 1
    _, box = configured
    return max(1, round(width / box[2]))


def _duration_ms(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return round(value)

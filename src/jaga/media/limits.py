"""Limits on what we agree to decode, checked before the expensive work.

A hostile upload can be tiny and still ask for gigabytes: a PNG header that declares
100000x100000 pixels, a GIF of 10,000 one-pixel frames drawn on a huge canvas, a video that
claims to last a week. Every limit is checked as early as the number is known (file size before
reading, image size from the header before decoding, frame counts before and while iterating).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from jaga.errors import InvalidInput
from jaga.media.errors import MediaTooLarge


@dataclass(frozen=True)
class MediaLimits:
    """What one piece of media may cost. All limits are inclusive maxima."""

    max_bytes: int = 256 * 2**20
    max_pixels: int = 100_000_000  # per frame (width * height), from the header
    max_dimension: int = 65_535  # width and height each
    max_frames: int = 1_000  # frames of an animated or multi-page image
    max_video_seconds: float = 4 * 3600
    max_video_frames: int = 200_000  # frames decoded from one video
    # Sum of width * height over all frames of one image: all decoded frames are held in
    # memory as RGB (3 bytes a pixel), so this bounds the memory of one decode_image call.
    max_total_pixels: int = 1_000_000_000

    def __post_init__(self) -> None:
        for name in (
            "max_bytes",
            "max_pixels",
            "max_dimension",
            "max_frames",
            "max_video_frames",
            "max_total_pixels",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInput(f"MediaLimits.{name} must be an int >= 1, got {value!r}")
        seconds = self.max_video_seconds
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, (int, float))
            or not math.isfinite(seconds)
            or seconds <= 0
        ):
            raise InvalidInput(
                f"MediaLimits.max_video_seconds must be a finite number > 0, got {seconds!r}"
            )


DEFAULT_LIMITS = MediaLimits()


def check_byte_size(size: int, limits: MediaLimits, what: str = "media") -> None:
    """Refuse ``size`` bytes over ``limits.max_bytes``."""
    if size > limits.max_bytes:
        raise MediaTooLarge(f"{what} is {size} bytes, over the limit of {limits.max_bytes} bytes")


def check_frame_size(width: int, height: int, limits: MediaLimits, what: str = "image") -> None:
    """Refuse a frame whose declared size is over the dimension or pixel limit.

    Called with the size read from a header, before any pixel buffer is allocated."""
    if width > limits.max_dimension or height > limits.max_dimension:
        raise MediaTooLarge(
            f"{what} is {width}x{height}, over the limit of {limits.max_dimension} pixels a side"
        )
    if width * height > limits.max_pixels:
        raise MediaTooLarge(
            f"{what} is {width}x{height} = {width * height} pixels, "
            f"over the limit of {limits.max_pixels} pixels"
        )

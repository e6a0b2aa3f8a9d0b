"""Safe decoding of images (every frame of animated ones) and video, with limits and typed errors.

>>> from jaga.media import decode_image, read_source
>>> image = decode_image(read_source("photo.jpg"))            # doctest: +SKIP
>>> image.format, image.width, image.height, image.frames[0].rgb.shape  # doctest: +SKIP
('JPEG', 4032, 3024, (3024, 4032, 3))

Everything a file can do wrong comes out as a :class:`MediaError`: UnsupportedMedia (not a
format we decode), CorruptMedia (empty, truncated, undecodable), MediaTooLarge (over a
:class:`MediaLimits` limit, checked before the expensive work), MediaNotFound (missing path).
"""

from jaga.media.errors import (
    CorruptMedia,
    MediaError,
    MediaNotFound,
    MediaTooLarge,
    UnsupportedMedia,
)
from jaga.media.image import DecodedImage, ImageFrame, decode_image
from jaga.media.limits import DEFAULT_LIMITS, MediaLimits
from jaga.media.sniff import MediaKind, sniff_format, sniff_kind
from jaga.media.source import read_source
from jaga.media.video import VideoFrame, VideoInfo, iter_video_frames, probe_video

__all__ = [
    "DEFAULT_LIMITS",
    "CorruptMedia",
    "DecodedImage",
    "ImageFrame",
    "MediaError",
    "MediaKind",
    "MediaLimits",
    "MediaNotFound",
    "MediaTooLarge",
    "UnsupportedMedia",
    "VideoFrame",
    "VideoInfo",
    "decode_image",
    "iter_video_frames",
    "probe_video",
    "read_source",
    "sniff_format",
    "sniff_kind",
]

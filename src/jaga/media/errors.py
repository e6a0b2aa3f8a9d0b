"""Typed errors of media decoding.

Decoders (Pillow, libjpeg, libwebp, libheif, FFmpeg) raise a zoo of exceptions on bad input:
OSError, SyntaxError, ValueError, struct.error, EOFError, av.error.*... Callers must not need to
know that zoo, so this package turns every failure a file can cause into one of these, each with
a one-line message (see :class:`jaga.errors.JagaError`).
"""

from __future__ import annotations

from jaga.errors import JagaError, NotFound


class MediaError(JagaError):
    """Media could not be read or decoded. Base class of the errors below."""


class UnsupportedMedia(MediaError):
    """Not a format we decode: unknown magic bytes, text named ``.jpg``, a video without a
    video stream, an image where a video was expected (or the reverse)."""


class CorruptMedia(MediaError):
    """Looks like a supported format but cannot be decoded: empty, truncated, broken."""


class MediaTooLarge(MediaError):
    """Over a :class:`~jaga.media.MediaLimits` limit (bytes, pixels, dimension, frames, duration).

    Raised before the expensive work where the size is known up front (file size, header)."""


class MediaNotFound(MediaError, NotFound):
    """A media path that does not exist."""

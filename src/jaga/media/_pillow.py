"""Pillow set-up for untrusted input, and the translation of its exceptions into ours.

* HEIF/HEIC is registered through pillow-heif (AVIF is Pillow's own plugin).
* ``ImageFile.LOAD_TRUNCATED_IMAGES`` is left False (Pillow's default), so a truncated file
  fails at ``load()`` instead of decoding to a half-grey picture that would still get hashed.
* Pillow's decompression-bomb check raises ``DecompressionBombError`` past twice
  ``Image.MAX_IMAGE_PIXELS``: that becomes MediaTooLarge. Its *warning* (past
  ``MAX_IMAGE_PIXELS``, below our own default limit) is silenced while we decode: our
  :class:`~jaga.media.MediaLimits` check, made on the same header numbers, is the one that decides.
  (``warnings.catch_warnings`` is process-wide before Python 3.14: threads decoding at the same
  time share the silencing, which only ever affects these advisory warnings.) The effective pixel
  cap is therefore the smaller of ``MediaLimits.max_pixels`` and ``2 * Image.MAX_IMAGE_PIXELS``
  (about 179 million); an application that wants more raises ``Image.MAX_IMAGE_PIXELS`` too.
"""

from __future__ import annotations

import struct
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

import pillow_heif
from PIL import Image, UnidentifiedImageError

from jaga.media.errors import CorruptMedia, MediaTooLarge

pillow_heif.register_heif_opener()

#: What Pillow and its plugins raise on malformed input (besides the bomb error). Only the
#: Pillow calls themselves run inside :func:`pillow_errors`, so these cannot mask our own bugs.
DECODE_ERRORS: Final = (
    OSError,
    SyntaxError,
    ValueError,
    TypeError,
    IndexError,
    KeyError,
    EOFError,
    struct.error,
    zlib.error,
    ZeroDivisionError,
    OverflowError,
    NotImplementedError,
    RuntimeError,  # libheif errors from pillow-heif; RecursionError on deeply nested input
)


@contextmanager
def pillow_errors(fmt: str) -> Iterator[None]:
    """Run Pillow calls on ``fmt`` data; their failures come out as MediaError subclasses."""
    with warnings.catch_warnings():
        # Advisory warnings about the file (bomb size, palette transparency, corrupt EXIF):
        # limits are enforced by us, and a hostile file must not be able to flood the logs.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        warnings.simplefilter("ignore", UserWarning)
        try:
            yield
        except Image.DecompressionBombError as error:
            raise MediaTooLarge(f"{fmt} image too large: {error}") from None
        except MemoryError:
            raise MediaTooLarge(f"{fmt} image too large: out of memory while decoding") from None
        except UnidentifiedImageError:
            raise CorruptMedia(f"corrupt {fmt}: the header cannot be parsed") from None
        except DECODE_ERRORS as error:
            raise CorruptMedia(describe(fmt, error)) from error


def describe(fmt: str, error: BaseException) -> str:
    """One line for a decoder failure: ``truncated JPEG: image file is truncated (...)``."""
    text = " ".join(str(error).split()) or type(error).__name__
    if "truncated" in text.lower() or isinstance(error, EOFError):
        return f"truncated {fmt}: {text}"
    return f"corrupt {fmt}: {text}"

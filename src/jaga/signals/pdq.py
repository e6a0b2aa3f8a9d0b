"""PDQ: Meta's 256-bit perceptual image hash, computed bit-exactly by the C core in ``_pdq``.

The hash and quality equal those of Meta's reference implementation (as shipped in the
``pdqhash`` binding) on the same RGB pixels, bit for bit. Which pixels are hashed (full decode, or
the faster reduced JPEG decode) is decided by :mod:`jaga.signals.hashing`, not here.

Hash bytes are the reference's 64-digit hex string decoded, so ``value.hex()`` prints exactly what
the reference prints and what ThreatExchange and HMA exchange.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np

from jaga.errors import InvalidInput
from jaga.signals import _pdq
from jaga.signals.base import HammingSignalType

#: Names of the eight orientations, in the order the C core (and the reference) returns them:
#: the plain hash, rotations by 90/180/270 degrees, flips about the x and y axes and about the two
#: diagonals. ``Signal.variant`` carries these names.
DIHEDRAL_VARIANTS: Final = (
    "",
    "rot90",
    "rot180",
    "rot270",
    "flipx",
    "flipy",
    "flip_plus1",
    "flip_minus1",
)

#: Meta's recommended match threshold (distance <= 31 of 256 bits).
PDQ_THRESHOLD: Final = 31
#: Quality below which Meta advises not to trust a PDQ hash (flat or tiny images).
PDQ_MIN_QUALITY: Final = 50


class InvalidPixels(InvalidInput):
    """Pixels handed to the hasher are not an (height, width, 3) array of 8-bit RGB."""


class PdqSignalType(HammingSignalType):
    """256-bit PDQ; compared by Hamming distance."""

    name = "pdq"
    size = 32
    default_threshold = PDQ_THRESHOLD
    aliases = ("pdq256",)


def _pixels(rgb: Any) -> Any:
    """Accept any array-like of 8-bit RGB; copy only when the layout requires it.

    Views are hashed in place (the C core follows any row and pixel strides): a crop, a
    mirrored or a turned view (``image[::-1]``, ``np.rot90(image)``) costs no copy. Only R, G
    and B of a pixel must be adjacent bytes."""
    array = np.asarray(rgb)
    if array.dtype != np.uint8:
        raise InvalidPixels(f"PDQ needs uint8 RGB pixels, got dtype {array.dtype}")
    if array.ndim != 3 or array.shape[2] != 3:
        raise InvalidPixels(f"PDQ needs pixels of shape (height, width, 3), got {array.shape}")
    return array if array.strides[2] == 1 else np.ascontiguousarray(array)


def pdq_hash(rgb: Any) -> tuple[bytes, int]:
    """PDQ hash (32 bytes) and quality (0-100) of RGB pixels (an (H, W, 3) uint8 array).

    Images under 5 pixels on a side hash to 32 zero bytes with quality 0, as in the reference.
    """
    try:
        return _pdq.hash(_pixels(rgb))
    except ValueError as error:
        raise InvalidPixels(str(error)) from error


def pdq_hash_dihedral(rgb: Any) -> tuple[list[bytes], int]:
    """The eight orientation hashes (order of :data:`DIHEDRAL_VARIANTS`) and the quality.

    One computation: the seven extra hashes follow from the DCT of the original by sign changes
    and transposition, so matching rotated or mirrored copies costs almost nothing at hash time.
    The first hash equals :func:`pdq_hash` except for exactly 64x64 images, where the reference's
    single-hash path skips the blur and its dihedral path does not (both are reproduced).
    """
    try:
        hashes, quality = _pdq.hash_dihedral(_pixels(rgb))
    except ValueError as error:
        raise InvalidPixels(str(error)) from error
    return list(hashes), quality


def pdq_hash_frame(rgb: Any) -> tuple[bytes, int]:
    """PDQ of a video frame exactly as Meta's vPDQ hashes it (single-precision luma)."""
    try:
        return _pdq.hash_frame(_pixels(rgb))
    except ValueError as error:
        raise InvalidPixels(str(error)) from error

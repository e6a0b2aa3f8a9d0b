"""Bit-exact PDQ hashing of RGB pixels (C core). Use :mod:`jaga.signals.pdq` instead.

Every function takes a ``(height, width, 3)`` ``uint8`` buffer (a NumPy array, a memoryview...)
whose rows and pixels may be strided, even backwards (a crop, ``np.rot90`` or ``image[:, ::-1]``
is hashed without a copy) as long as R, G and B of a pixel are adjacent bytes; it releases the
GIL while it computes, and raises ``ValueError`` for anything else.
Images smaller than ``MIN_DIMENSION`` on a side hash to 32 zero bytes with quality 0, as in the
reference. Hash bytes are the reference's hex string decoded (``bytes.fromhex(hex)``).
"""

from typing_extensions import Buffer

MIN_DIMENSION: int

def hash(rgb: Buffer, /) -> tuple[bytes, int]:
    """PDQ hash (32 bytes) and quality (0-100), equal to ``pdqhash.compute``."""

def hash_dihedral(rgb: Buffer, /) -> tuple[tuple[bytes, ...], int]:
    """Eight hashes (original, rot90, rot180, rot270, flipX, flipY, flipPlus1, flipMinus1) and
    the quality from one computation, equal to ``pdqhash.compute_dihedral``."""

def hash_frame(rgb: Buffer, /) -> tuple[bytes, int]:
    """PDQ hash and quality of a video frame as Meta's vPDQ computes it (float luma)."""

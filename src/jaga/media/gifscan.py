"""Count the frames of a GIF without decoding them, and stop counting early.

Pillow learns a GIF's frame count by walking every frame (``n_frames``) with no upper bound. A
hostile GIF can hold millions of one-pixel frames over a huge canvas, each of which Pillow would
composite into a full-canvas frame; counting first lets us refuse it before decoding anything.
"""

from __future__ import annotations

_TRAILER, _EXTENSION, _IMAGE = 0x3B, 0x21, 0x2C


def count_gif_frames(data: bytes, stop_after: int) -> int:
    """Image descriptors (frames) in the GIF ``data``, counting no further than ``stop_after``.

    Lenient like Pillow: unknown bytes between blocks are skipped, a truncated file ends the
    count (decoding reports the damage)."""
    size = len(data)
    if size < 13:
        return 0
    flags = data[10]
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    frames = 0
    while pos < size and frames < stop_after:
        tag = data[pos]
        if tag == _TRAILER:
            break
        if tag == _EXTENSION:
            pos = _skip_sub_blocks(data, pos + 2)
        elif tag == _IMAGE:
            if pos + 10 > size:
                break
            frames += 1
            local = data[pos + 9]
            pos += 10 + (3 << ((local & 7) + 1) if local & 0x80 else 0)
            pos = _skip_sub_blocks(data, pos + 1)  # + 1: the LZW minimum code size
        else:
            pos += 1
    return frames


def _skip_sub_blocks(data: bytes, pos: int) -> int:
    """Position after a chain of data sub-blocks (length byte + data, ended by length 0)."""
    size = len(data)
    while pos < size:
        length = data[pos]
        pos += 1 + length
        if length == 0:
            break
    return pos

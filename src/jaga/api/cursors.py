"""Opaque page cursors: clients pass back what they were given and never build one themselves.

A cursor is the keyset position (an id) tagged with what it pages through, base64url-encoded;
opaque so the position can change representation later without breaking clients.
"""

from __future__ import annotations

import base64
import binascii

from jaga.errors import InvalidInput


class InvalidCursor(InvalidInput):
    """A cursor this API did not hand out (or for another listing)."""


def encode_cursor(kind: str, position: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{position}".encode()).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str | None) -> int | None:
    if cursor is None or cursor == "":
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        tag, _, position = text.partition(":")
        if tag != kind:
            raise ValueError(tag)
        return int(position)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise InvalidCursor(f"invalid cursor {cursor[:40]!r}: pass back a next_cursor") from None

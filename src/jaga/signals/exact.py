"""Cryptographic digests of the original bytes: MD5, SHA-1, SHA-256.

They match only byte-identical files, which is what hash lists from hotlines (and PhotoDNA-less
services) often carry. They are computed over the bytes exactly as received, before any decoding.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from jaga.signals.base import ExactSignalType


class Md5SignalType(ExactSignalType):
    name = "md5"
    size = 16


class Sha1SignalType(ExactSignalType):
    name = "sha1"
    size = 20
    aliases = ("sha-1",)


class Sha256SignalType(ExactSignalType):
    name = "sha256"
    size = 32
    aliases = ("sha-256",)


EXACT_ALGORITHMS = ("md5", "sha1", "sha256")


def exact_digests(data: bytes, names: Iterable[str] = EXACT_ALGORITHMS) -> dict[str, bytes]:
    """Digest of ``data`` for each requested algorithm name (md5, sha1, sha256)."""
    return {name: hashlib.new(name, data, usedforsecurity=False).digest() for name in names}

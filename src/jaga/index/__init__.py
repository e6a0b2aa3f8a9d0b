"""Exact search over stored hashes: Hamming radius for perceptual hashes, equality for digests.

``HammingIndex`` answers "which stored hashes lie within r bits of this one" exactly, for batches,
with incremental adds and removals and memory-mapped snapshots; ``ExactIndex`` does the same for
cryptographic digests (MD5, SHA-1, SHA-256), where only equality matters.
"""

from jaga.index.errors import IndexInputError, SnapshotError
from jaga.index.exact import ExactIndex
from jaga.index.hamming import HammingIndex, hamming_scan
from jaga.index.layout import Tuning
from jaga.index.result import QueryResult

__all__ = [
    "ExactIndex",
    "HammingIndex",
    "IndexInputError",
    "QueryResult",
    "SnapshotError",
    "Tuning",
    "hamming_scan",
]

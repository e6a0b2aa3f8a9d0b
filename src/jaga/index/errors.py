"""The two ways an index call can fail on purpose: bad input, or a snapshot that cannot be used."""

from jaga.errors import InvalidInput, JagaError


class IndexInputError(InvalidInput):
    """Hashes, ids or a radius the index cannot take (wrong dtype, shape, length or range)."""


class SnapshotError(JagaError):
    """A snapshot file that cannot be opened: truncated, damaged, another format or kind.

    The index is a cache of the store, so the caller's remedy is always the same: rebuild the
    index from the store (and save a fresh snapshot).
    """

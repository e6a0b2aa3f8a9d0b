"""Errors of the storage layer: a database that cannot be opened or reached."""

from jaga.errors import InvalidInput, JagaError


class StoreError(JagaError):
    """The database could not do what was asked (unreachable, locked, not migrated)."""


class DatabaseUnavailable(StoreError):
    """The database cannot be reached or opened (server down, bad credentials, no permission)."""


class InvalidDatabaseUrl(InvalidInput):
    """A database URL Jaga cannot use (unknown backend or driver, malformed)."""

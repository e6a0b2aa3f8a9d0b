"""The root of every error Jaga raises on purpose.

Every layer raises a subclass of :class:`JagaError` with a one-line message a user can act on.
The CLI prints ``str(error)`` and exits non-zero; the HTTP API maps each family to a status code.
Anything that is not a ``JagaError`` is a bug.
"""


class JagaError(Exception):
    """Base class of expected, user-facing failures (bad input, limits, missing things)."""

    def __init__(self, message: str) -> None:
        # One line only: messages end up in CLI output, JSON error bodies and logs.
        super().__init__(" ".join(message.split()))

    @property
    def message(self) -> str:
        return str(self)


class NotFound(JagaError):
    """A named thing (bank, entry, key, content) does not exist."""


class InvalidInput(JagaError):
    """Input that is well-formed enough to read but not acceptable (bad hash, bad row)."""

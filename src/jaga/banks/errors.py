"""What can go wrong with banks and their entries, each a typed, one-line error."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from jaga.errors import InvalidInput, NotFound


class UnknownBank(NotFound):
    """No bank has this name (or id)."""

    def __init__(self, name: str | int, known: Iterable[str] = ()) -> None:
        self.name = name
        known = list(known)
        message = f"no bank named {name!r}" if isinstance(name, str) else f"no bank with id {name}"
        if isinstance(name, str):
            similar = _similar(name, known)
            if similar:
                message += "; did you mean " + ", ".join(repr(n) for n in similar) + "?"
            elif not known:
                message += "; there are no banks yet"
        super().__init__(message)


def _similar(name: str, known: list[str]) -> list[str]:
    lowered = {n.lower(): n for n in known}
    exact = [lowered[name.lower()]] if name.lower() in lowered else []
    close = difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.6)
    found = exact + [lowered[c] for c in close if lowered[c] not in exact]
    return found[:3]


class UnknownEntry(NotFound):
    """No bank entry has this id (in this bank)."""


class InvalidBankName(InvalidInput):
    """A bank name outside ``[A-Za-z0-9][A-Za-z0-9_.-]{0,63}``."""


class DuplicateBank(InvalidInput):
    """A bank with this name (ignoring case) exists already."""


class InvalidBankSetting(InvalidInput):
    """A bank kind, threshold or other setting that is not acceptable."""


class InvalidLabel(InvalidInput):
    """A label that is empty, too long, or holds whitespace or commas (labels are words)."""


class InvalidEntry(InvalidInput):
    """Entry metadata that cannot be stored (source or external id too long, bad dates)."""

"""The one registry of signal types, looked up by name or alias."""

from __future__ import annotations

from jaga.signals.base import SignalType, UnknownSignalType

_REGISTRY: dict[str, SignalType] = {}
_ALIASES: dict[str, str] = {}


def register(signal_type: SignalType) -> SignalType:
    """Add a signal type; names and aliases are case-insensitive and must be unique."""
    for key in (signal_type.name, *signal_type.aliases):
        key = key.lower()
        owner = _ALIASES.get(key)
        if owner is not None and owner != signal_type.name:
            raise ValueError(f"signal type name {key!r} already used by {owner!r}")
        _ALIASES[key] = signal_type.name
    _REGISTRY[signal_type.name] = signal_type
    return signal_type


def get_signal_type(name: str) -> SignalType:
    canonical = _ALIASES.get(name.strip().lower())
    if canonical is None:
        known = ", ".join(sorted(_REGISTRY))
        raise UnknownSignalType(f"unknown signal type {name!r}; known: {known}")
    return _REGISTRY[canonical]


def signal_type_names() -> list[str]:
    return sorted(_REGISTRY)

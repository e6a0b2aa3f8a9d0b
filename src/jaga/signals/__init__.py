"""Signal types (pdq, vpdq, md5, sha1, sha256), their registry, and hashing of media.

Importing this package registers every built-in signal type, so ``get_signal_type("pdq")`` works
after ``import jaga.signals``. Hash media with :func:`jaga.signals.hashing.hash_bytes` /
``hash_path``; see docs/hashing.md.
"""

from jaga.signals.base import (
    ExactSignalType,
    HammingSignalType,
    InvalidHash,
    Signal,
    SignalType,
    SignalTypeInfo,
    UnknownSignalType,
)
from jaga.signals.exact import Md5SignalType, Sha1SignalType, Sha256SignalType
from jaga.signals.pdq import PdqSignalType
from jaga.signals.registry import get_signal_type, register, signal_type_names
from jaga.signals.vpdq import VpdqSignalType

for _signal_type in (
    PdqSignalType(),
    VpdqSignalType(),
    Md5SignalType(),
    Sha1SignalType(),
    Sha256SignalType(),
):
    register(_signal_type)

__all__ = [
    "ExactSignalType",
    "HammingSignalType",
    "InvalidHash",
    "Signal",
    "SignalType",
    "SignalTypeInfo",
    "UnknownSignalType",
    "get_signal_type",
    "register",
    "signal_type_names",
]

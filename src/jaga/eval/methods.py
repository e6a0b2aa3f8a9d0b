"""The matching methods the benchmark compares, each as "hashes stored for a known image" and
"hashes looked up for an upload".

A method matches an upload to a known image when any of the upload's hashes lies within the
threshold of any of the known image's hashes: exactly what an index holding every bank-side hash
(each pointing to its bank entry) answers for a batch of query-side hashes.

* ``pdq``: one PDQ hash on each side (what ThreatExchange and HMA exchange).
* ``pdq-dihedral``: the upload's eight orientations against the plain hash.
* ``phash``: 64-bit DCT pHash from ``imagehash`` (a common open-source baseline; not in Jaga).
* ``jaga-query``: Jaga's query-side variants against the plain hash: what Jaga achieves against
  banks from external exchanges, which hold only the plain PDQ of each known image.
* ``jaga``: query-side variants against bank-side variants: banks Jaga hashed itself.

PDQ hashes under the matcher's quality floor (50) are not used, on either side, as in production.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from jaga.errors import InvalidInput, JagaError
from jaga.signals.pdq import (
    DIHEDRAL_VARIANTS,
    PDQ_MIN_QUALITY,
    PDQ_THRESHOLD,
    pdq_hash,
    pdq_hash_dihedral,
)
from jaga.signals.variants import (
    DEFAULT_CONFIG,
    VariantConfig,
    bank_variants,
    query_variants,
)

U8 = NDArray[np.uint8]


class MissingDependency(JagaError):
    """A method needs an optional package that is not installed."""


class UnknownMethod(InvalidInput):
    """A method name that the benchmark does not know."""


@dataclass(frozen=True)
class HashSet:
    """The hashes of one image for one method: ``values`` is (count, bytes), ``names`` the
    variant name of each row."""

    values: U8
    names: tuple[str, ...]

    @classmethod
    def of(cls, pairs: Sequence[tuple[str, bytes]], size: int) -> HashSet:
        if not pairs:
            return cls(np.zeros((0, size), dtype=np.uint8), ())
        values = np.frombuffer(b"".join(v for _, v in pairs), dtype=np.uint8).reshape(-1, size)
        return cls(values.copy(), tuple(n for n, _ in pairs))

    def __len__(self) -> int:
        return int(self.values.shape[0])


class Method(Protocol):
    """What the benchmark needs of a matching method."""

    name: str
    description: str
    bits: int
    production_threshold: int

    def bank(self, rgb: U8) -> HashSet: ...

    def query(self, rgb: U8) -> HashSet: ...


class PdqMethod:
    name = "pdq"
    description = "PDQ, one hash each side, threshold 31"
    bits = 256
    production_threshold = PDQ_THRESHOLD

    def bank(self, rgb: U8) -> HashSet:
        value, quality = pdq_hash(rgb)
        return HashSet.of([("", value)] if quality >= PDQ_MIN_QUALITY else [], 32)

    def query(self, rgb: U8) -> HashSet:
        return self.bank(rgb)


class PdqDihedralMethod(PdqMethod):
    name = "pdq-dihedral"
    description = "PDQ, the upload's 8 orientations against the plain hash"

    def query(self, rgb: U8) -> HashSet:
        values, quality = pdq_hash_dihedral(rgb)
        if quality < PDQ_MIN_QUALITY:
            return HashSet.of([], 32)
        return HashSet.of(list(zip(DIHEDRAL_VARIANTS, values, strict=True)), 32)


class PhashMethod:
    name = "phash"
    description = "pHash 64-bit (imagehash), threshold 8 (the same 12% of bits as PDQ's 31/256)"
    bits = 64
    production_threshold = 8

    def __init__(self) -> None:
        try:
            import imagehash
        except ImportError as error:  # pragma: no cover - depends on the environment
            raise MissingDependency(
                "the phash method needs the imagehash package (pip install imagehash)"
            ) from error
        self._imagehash: Any = imagehash

    def bank(self, rgb: U8) -> HashSet:
        bits = np.asarray(self._imagehash.phash(Image.fromarray(rgb)).hash, dtype=bool).ravel()
        return HashSet.of([("", np.packbits(bits).tobytes())], 8)

    def query(self, rgb: U8) -> HashSet:
        return self.bank(rgb)


class JagaMethod:
    """Jaga's signal variants; ``bank_side`` False keeps the bank to the plain PDQ hash."""

    bits = 256
    production_threshold = PDQ_THRESHOLD

    def __init__(self, bank_side: bool = True, config: VariantConfig = DEFAULT_CONFIG) -> None:
        self.bank_side = bank_side
        self.config = config
        self.name = "jaga" if bank_side else "jaga-query"
        self.description = (
            "Jaga variants on both sides (banks Jaga hashed), threshold 31"
            if bank_side
            else "Jaga query variants against plain PDQ (external banks), threshold 31"
        )

    def bank(self, rgb: U8) -> HashSet:
        if not self.bank_side:
            return PdqMethod().bank(rgb)
        return HashSet.of([(v.name, v.value) for v in bank_variants(rgb, self.config)], 32)

    def query(self, rgb: U8) -> HashSet:
        return HashSet.of([(v.name, v.value) for v in query_variants(rgb, self.config)], 32)


METHOD_NAMES: Final = ("pdq", "pdq-dihedral", "phash", "jaga-query", "jaga")


def _has_imagehash() -> bool:
    import importlib.util

    return importlib.util.find_spec("imagehash") is not None


def make_methods(names: Sequence[str] | None = None) -> list[Method]:
    """Method objects by name (default: all of :data:`METHOD_NAMES`, in that order, leaving
    out ``phash`` when ``imagehash`` is not installed; asking for it then is an error)."""
    if names is None:
        names = [n for n in METHOD_NAMES if n != "phash" or _has_imagehash()]
    chosen = list(names)
    unknown = [n for n in chosen if n not in METHOD_NAMES]
    if unknown:
        raise UnknownMethod(
            f"unknown method(s) {', '.join(unknown)}; known: {', '.join(METHOD_NAMES)}"
        )
    factories: dict[str, Any] = {
        "pdq": PdqMethod,
        "pdq-dihedral": PdqDihedralMethod,
        "phash": PhashMethod,
        "jaga-query": lambda: JagaMethod(bank_side=False),
        "jaga": lambda: JagaMethod(bank_side=True),
    }
    return [factories[n]() for n in chosen]

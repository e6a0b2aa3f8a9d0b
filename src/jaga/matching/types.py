"""The values matching produces: which bank entry a piece of content matched, and how closely."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from jaga.signals.base import Signal

KNOWN = "known"
ALLOW = "allow"


@dataclass(frozen=True, slots=True)
class BankInfo:
    """What the matcher needs to know of a bank: its kind, thresholds and whether it is on."""

    id: int
    name: str
    kind: str  # KNOWN or ALLOW
    thresholds: Mapping[str, int]
    enabled: bool = True

    def threshold(self, signal_type: str, default: int) -> int:
        return int(self.thresholds.get(signal_type, default))


@dataclass(frozen=True, slots=True)
class Match:
    """One bank entry that one of the content's signals fell within the bank's threshold of.

    ``query`` is the content's signal that matched (its ``variant`` says which orientation or
    region, its ``frame`` which frame of an animation or video). For vPDQ, ``distance`` is the
    best frame distance and ``query_percent``/``target_percent`` the shares of frames matched.
    ``entry_variant`` names the bank entry's variant row that matched (``"crop:8"``), ``""``
    when its own hash did: ``entry_id`` is always the entry itself, never a variant row.
    """

    bank_id: int
    bank_name: str
    bank_kind: str
    entry_id: int
    signal_type: str
    distance: int
    query: Signal
    query_percent: float | None = None
    target_percent: float | None = None
    entry_variant: str = ""

    @property
    def key(self) -> tuple[int, int]:
        return (self.bank_id, self.entry_id)

    @property
    def rank(self) -> tuple[int, bool, bool]:
        """Which of two matches of one entry to keep: the nearer, then the one through plain
        hashes (the entry's own, then the content's): the plainest explanation of a match."""
        return (self.distance, self.entry_variant != "", self.query.variant != "")


@dataclass(frozen=True, slots=True)
class MatchOutcome:
    """All matches of one piece of content, split by what they mean.

    ``matches`` are known-material matches that stand; ``cancelled`` are known-material matches
    cancelled because the content also matched an allow-list (``allowed``). Unmatchable signals
    (PDQ quality under the minimum) are listed in ``skipped`` so callers can tell "no match" from
    "could not be checked".
    """

    matches: tuple[Match, ...] = ()
    cancelled: tuple[Match, ...] = ()
    allowed: tuple[Match, ...] = ()
    skipped: tuple[Signal, ...] = field(default_factory=tuple)

    @property
    def matched(self) -> bool:
        return bool(self.matches)

    def all(self) -> tuple[Match, ...]:
        return self.matches + self.cancelled + self.allowed

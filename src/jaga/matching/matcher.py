"""Signals in, matches out: per-bank thresholds, quality floor, vPDQ aggregation, allow-lists.

This is the pure part of matching. It reads a catalogue of banks and their in-memory indexes and
holds no lock and no database session; ``jaga.matching.live`` wraps it with the store, the lock
and the change feed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from jaga.matching.bank_index import BankIndexSet
from jaga.matching.types import ALLOW, BankInfo, Match, MatchOutcome
from jaga.signals import vpdq
from jaga.signals.base import Signal
from jaga.signals.registry import get_signal_type

PERCEPTUAL_FRAME_TYPES = ("pdq", "vpdq")


@dataclass(frozen=True)
class MatchPolicy:
    """Knobs of matching that are not per bank.

    ``min_quality``: PDQ/vPDQ hashes under this quality are not matched (flat or tiny images give
    unreliable hashes that collide with each other). ``frames_against_images``: video frames are
    also searched in PDQ banks, so a known still image spliced into a video is found.
    """

    min_quality: int = 50
    vpdq_query_percent: float = vpdq.VPDQ_QUERY_MATCH_PERCENT
    vpdq_target_percent: float = vpdq.VPDQ_TARGET_MATCH_PERCENT
    frames_against_images: bool = True


def _default_threshold(signal_type: str) -> int:
    return get_signal_type(signal_type).default_threshold


class Matcher:
    """Match the signals of one piece of content against a set of banks."""

    def __init__(
        self,
        banks: Mapping[int, BankInfo],
        indexes: BankIndexSet,
        policy: MatchPolicy | None = None,
    ) -> None:
        self.banks = banks
        self.indexes = indexes
        self.policy = policy or MatchPolicy()

    def match(
        self, signals: Sequence[Signal], *, bank_ids: Collection[int] | None = None
    ) -> MatchOutcome:
        """Every bank entry within its bank's threshold of any of ``signals``.

        ``bank_ids`` restricts the search (``None`` = every enabled bank). The best (smallest
        distance) signal is kept per bank entry, a hit on one of its variant rows counting as a
        hit on the entry (see :attr:`Match.rank`). If any allow-list bank matches, every known
        match is cancelled.
        """
        banks = [
            b for b in self.banks.values() if b.enabled and (bank_ids is None or b.id in bank_ids)
        ]
        usable, skipped = self._usable(signals)
        best: dict[tuple[int, int], Match] = {}
        for bank in banks:
            for match in self._match_bank(bank, usable):
                current = best.get(match.key)
                if current is None or match.rank < current.rank:
                    best[match.key] = match
        found = sorted(best.values(), key=lambda m: (m.bank_name, m.distance, m.entry_id))
        allowed = tuple(m for m in found if m.bank_kind == ALLOW)
        known = tuple(m for m in found if m.bank_kind != ALLOW)
        if allowed:
            return MatchOutcome((), known, allowed, tuple(skipped))
        return MatchOutcome(known, (), (), tuple(skipped))

    def _usable(self, signals: Sequence[Signal]) -> tuple[list[Signal], list[Signal]]:
        usable: list[Signal] = []
        skipped: list[Signal] = []
        for signal in signals:
            low = (
                signal.signal_type in PERCEPTUAL_FRAME_TYPES
                and signal.quality is not None
                and signal.quality < self.policy.min_quality
            )
            (skipped if low else usable).append(signal)
        return usable, skipped

    def _match_bank(self, bank: BankInfo, signals: Sequence[Signal]) -> list[Match]:
        by_type: dict[str, list[Signal]] = defaultdict(list)
        for signal in signals:
            by_type[signal.signal_type].append(signal)
            if signal.signal_type == "vpdq" and self.policy.frames_against_images:
                by_type["pdq"].append(signal)
        matches: list[Match] = []
        for signal_type, group in by_type.items():
            if signal_type == "vpdq":
                matches.extend(self._match_video(bank, group))
            else:
                matches.extend(self._match_hashes(bank, signal_type, group))
        return matches

    def _match_hashes(
        self, bank: BankInfo, signal_type: str, group: Sequence[Signal]
    ) -> list[Match]:
        if self.indexes.get(bank.id, signal_type) is None:
            return []
        radius = bank.threshold(signal_type, _default_threshold(signal_type))
        rows = np.frombuffer(b"".join(s.value for s in group), dtype=np.uint8)
        rows = rows.reshape(len(group), -1)
        result = self.indexes.query(bank.id, signal_type, rows, radius)
        matches = [
            Match(bank.id, bank.name, bank.kind, entry_id, signal_type, distance, group[qi])
            for qi, entry_id, distance in zip(
                result.query_index.tolist(),
                result.ids.tolist(),
                result.distances.tolist(),
                strict=True,
            )
        ]
        # Variant rows (crops, trims... of the entry's media), at the same threshold.
        hits = self.indexes.query_variants(bank.id, signal_type, rows, radius)
        matches.extend(
            Match(
                bank.id,
                bank.name,
                bank.kind,
                entry_id,
                signal_type,
                distance,
                group[qi],
                entry_variant=variant,
            )
            for qi, entry_id, distance, variant in zip(
                hits.query_index.tolist(),
                hits.entry_ids.tolist(),
                hits.distances.tolist(),
                hits.variants,
                strict=True,
            )
        )
        return matches

    def _match_video(self, bank: BankInfo, frames: Sequence[Signal]) -> list[Match]:
        """Meta's vPDQ rule: share of query frames with a match, share of target frames hit."""
        if self.indexes.get(bank.id, "vpdq") is None:
            return []
        unique: dict[bytes, Signal] = {}
        for frame in frames:
            unique.setdefault(frame.value, frame)
        query = list(unique.values())
        if not query:
            return []
        radius = bank.threshold("vpdq", _default_threshold("vpdq"))
        rows = np.frombuffer(b"".join(s.value for s in query), dtype=np.uint8).reshape(-1, 32)
        result = self.indexes.query(bank.id, "vpdq", rows, radius)
        entries = BankIndexSet.frame_entry(result.ids)
        query_rows: dict[int, set[int]] = defaultdict(set)
        target_keys: dict[int, set[int]] = defaultdict(set)
        best: dict[int, tuple[int, int]] = {}
        for qi, key, entry_id, distance in zip(
            result.query_index.tolist(),
            result.ids.tolist(),
            entries.tolist(),
            result.distances.tolist(),
            strict=True,
        ):
            query_rows[entry_id].add(qi)
            target_keys[entry_id].add(key)
            if entry_id not in best or distance < best[entry_id][0]:
                best[entry_id] = (distance, qi)
        matches = []
        for entry_id, rows_hit in query_rows.items():
            target_total = self.indexes.vpdq_frame_count(bank.id, entry_id)
            query_percent = 100.0 * len(rows_hit) / len(query)
            target_percent = 100.0 * len(target_keys[entry_id]) / max(target_total, 1)
            if (
                query_percent < self.policy.vpdq_query_percent
                or target_percent < self.policy.vpdq_target_percent
            ):
                continue
            distance, qi = best[entry_id]
            matches.append(
                Match(
                    bank.id,
                    bank.name,
                    bank.kind,
                    entry_id,
                    "vpdq",
                    distance,
                    query[qi],
                    query_percent,
                    target_percent,
                )
            )
        return matches

"""HMA's look-up answers from Jaga's matcher.

HMA answers ``{signal type: {bank name: [{"bank_content_id": id, "distance": "9"}]}}`` (the outer
level dropped when the request names one signal type), and ``/m/raw_lookup`` a flat list. Jaga's
matcher already applies each bank's threshold, skips disabled banks and entries, and lets an
allow-list bank cancel known matches. ``/m/lookup`` reports the matches that stand, while
``/m/raw_lookup`` (HMA: "enable/disable status is NOT checked") also reports the cancelled ones
and the allow-list hits. Matches are logged, as the native API's look-ups are.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any

from jaga.api.context import ServiceContext
from jaga.api.hma_content import content_id_of
from jaga.api.hma_signals import distance_text, hma_name_of
from jaga.api.submission import write_outcome
from jaga.matching.live import LiveMatcher
from jaga.matching.log import ContentContext
from jaga.matching.types import Match, MatchOutcome
from jaga.signals import vpdq
from jaga.signals.base import Signal

MatchesByBank = dict[str, list[dict[str, Any]]]


def query_signals(jaga_type: str, value: bytes) -> list[Signal]:
    """The matcher's signals for one hash given as text: vPDQ is one signal per frame."""
    if jaga_type == "vpdq":
        return [Signal("vpdq", f.hash, f.quality, f.frame, f.timestamp) for f in vpdq.unpack(value)]
    return [Signal(jaga_type, value)]


def bank_ids_named(matcher: LiveMatcher, names: Collection[str] | None) -> list[int] | None:
    """Ids of the named banks; names no bank has are ignored, as HMA ignores them."""
    if names is None:
        return None
    return [bank.id for bank in matcher.banks().values() if bank.name in names]


def search(
    service: ServiceContext, signals: Sequence[Signal], banks: Collection[str] | None
) -> MatchOutcome:
    """The index search alone (no database): cheap enough for one hash on the event loop."""
    bank_ids = bank_ids_named(service.matcher, banks)
    if bank_ids is not None and not bank_ids:
        return MatchOutcome()
    return service.matcher.match(signals, bank_ids=bank_ids)


def record(
    service: ServiceContext,
    signals: Sequence[Signal],
    outcome: MatchOutcome,
    *,
    raw: bool = False,
    external_id: str = "",
) -> list[tuple[Match, int]]:
    """Log the matches as the native API's look-ups are (:func:`write_outcome` without
    ``record``) and pair each reported match with its HMA content id. Writes, so it runs in a
    worker thread; call it only when something matched."""
    context = ContentContext(external_id=external_id[:255], kind="lookup")
    done = write_outcome(service, signals, context, outcome, record=False)
    found = outcome.all() if raw else outcome.matches
    return [
        (m, content_id_of(m.entry_id, done.details[m.entry_id].external_id))
        for m in found
        if m.entry_id in done.details
    ]


def find_matches(
    service: ServiceContext,
    signals: Sequence[Signal],
    *,
    banks: Collection[str] | None,
    raw: bool = False,
    external_id: str = "",
) -> list[tuple[Match, int]]:
    """:func:`search` then, if anything matched, :func:`record` (in a worker thread)."""
    outcome = search(service, signals, banks)
    if not outcome.all():
        return []
    return record(service, signals, outcome, raw=raw, external_id=external_id)


def by_bank(matches: Iterable[tuple[Match, int]]) -> MatchesByBank:
    result: MatchesByBank = {}
    for match, content_id in matches:
        result.setdefault(match.bank_name, []).append(
            {"bank_content_id": content_id, "distance": distance_text(match)}
        )
    return result


def by_signal_type(
    matches: Iterable[tuple[Match, int]], hashed_types: Iterable[str]
) -> dict[str, MatchesByBank]:
    """Every hashed type as a key (empty when nothing matched), plus types that matched."""
    grouped: dict[str, list[tuple[Match, int]]] = {name: [] for name in hashed_types}
    for match, content_id in matches:
        grouped.setdefault(hma_name_of(match.signal_type), []).append((match, content_id))
    return {name: by_bank(items) for name, items in grouped.items()}


def of_type(matches: Iterable[tuple[Match, int]], jaga_type: str) -> list[tuple[Match, int]]:
    return [(m, c) for m, c in matches if m.signal_type == jaga_type]

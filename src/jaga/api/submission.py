"""What happens to content the API is given: match, then record, decide and enqueue at once.

The order matters for speed and for safety. Matching runs against the in-memory index with no
database access, so a lookup that matches nothing costs no write at all. Anything that is written
-- the content and its signals (kept for retroactive scans; the media bytes are not), the match
log, and the actions the rules planned -- goes into ONE transaction: there is never a logged match
without its actions, or an action without the content it is about.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jaga.actions.plan import plan_actions
from jaga.actions.rules import decide, facts_from_outcome
from jaga.api.context import ServiceContext
from jaga.api.schemas import ActionOut, MatchOut
from jaga.banks.errors import UnknownBank
from jaga.matching.log import ContentContext, EntryDetails, entry_details, record_content
from jaga.matching.types import Match, MatchOutcome
from jaga.signals.base import Signal

ALLOW = "allow"


@dataclass(frozen=True)
class Processed:
    """The outcome of one submission; ``content_id`` is None when nothing was written."""

    outcome: MatchOutcome
    details: Mapping[int, EntryDetails]
    decision: str
    content_id: int | None = None
    actions: list[ActionOut] = field(default_factory=list)

    def matches(self) -> list[MatchOut]:
        return [match_out(m, self.details) for m in self.outcome.matches]

    def cancelled(self) -> list[MatchOut]:
        return [match_out(m, self.details) for m in self.outcome.cancelled]


def match_out(match: Match, details: Mapping[int, EntryDetails]) -> MatchOut:
    info = details.get(match.entry_id)
    return MatchOut(
        bank=match.bank_name,
        entry_id=match.entry_id,
        signal_type=match.signal_type,
        distance=match.distance,
        variant=match.query.variant,
        entry_variant=match.entry_variant,
        frame=match.query.frame,
        labels=list(info.labels) if info else [],
        query_percent=None if match.query_percent is None else round(match.query_percent, 2),
        target_percent=None if match.target_percent is None else round(match.target_percent, 2),
    )


def bank_ids(context: ServiceContext, names: Sequence[str] | None) -> list[int] | None:
    """Ids of the named banks, from the matcher's catalogue (no database round trip)."""
    if names is None:
        return None
    by_name = {info.name: bank_id for bank_id, info in context.matcher.banks().items()}
    ids = []
    for name in names:
        bank_id = by_name.get(name)
        if bank_id is None:
            raise UnknownBank(name, by_name)
        ids.append(bank_id)
    return ids


def signal_hex(signals: Sequence[Signal]) -> dict[str, list[str]]:
    """Hex hashes by signal type, without the dihedral variants (derivable, eight times longer)."""
    out: dict[str, list[str]] = {}
    for signal in signals:
        if signal.variant:
            continue
        out.setdefault(signal.signal_type, []).append(signal.value.hex())
    return out


def action_fields(item: Any) -> dict[str, Any]:
    """An outbox row (object or mapping) as plain values, whatever class the outbox returns."""
    if isinstance(item, Mapping):
        return dict(item)
    names = getattr(item, "__dataclass_fields__", None)
    if names is not None:
        return {name: getattr(item, name) for name in names}
    table = getattr(item, "__table__", None)
    if table is not None:
        return {column.key: getattr(item, column.key) for column in table.columns}
    return {k: v for k, v in vars(item).items() if not k.startswith("_")}


def write_outcome(
    service: ServiceContext,
    signals: Sequence[Signal],
    content: ContentContext,
    outcome: MatchOutcome,
    *,
    record: bool,
) -> Processed:
    """Write what ``outcome`` calls for, in one transaction (see :func:`process`)."""
    if not record and not outcome.all():
        return Processed(outcome, {}, ALLOW)
    with service.db.session(immediate=True) as session:
        details = entry_details(session, [m.entry_id for m in outcome.all()])
        row = record_content(session, content, signals if record else (), outcome)
        if record:
            plan = plan_actions(session, service.rules, row, outcome, details=details)
            actions = [
                ActionOut(id=action_id, type=planned.type, status="pending")
                for planned, action_id in zip(plan.planned, plan.action_ids, strict=True)
            ]
            return Processed(outcome, details, plan.decision, row.id, actions)
        planned = service.rules.evaluate(facts_from_outcome(outcome, details))
        return Processed(outcome, details, decide(planned), row.id)


def process(
    service: ServiceContext,
    signals: Sequence[Signal],
    content: ContentContext,
    *,
    record: bool,
    banks: Collection[int] | None = None,
) -> Processed:
    """Match ``signals``; then, in one transaction, write what must be written.

    ``record=True`` (uploads, ``/v1/match`` with record): the content and all its signals, the
    match log and the rules' actions (:func:`jaga.actions.plan.plan_actions`). ``record=False``
    (a lookup): nothing when nothing matched; otherwise the match log under a content row
    without signals (lookups do not enter retroactive scans), the rules' decision, no actions.
    """
    outcome = service.matcher.match(signals, bank_ids=banks)
    return write_outcome(service, signals, content, outcome, record=record)

"""From a match outcome to a decision and outbox rows, in the caller's transaction.

The one call the upload path needs after recording content and matches::

    with db.session() as session:
        content = record_content(session, context, signals, outcome)
        plan = plan_actions(session, rules, content, outcome)
    return plan.decision   # "block", "review" or "allow", answered synchronously

The outbox rows are written in the same transaction as the content and its match log, so
either all of them exist or none does; the worker then carries the actions out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from jaga.actions.outbox import ActionContext, enqueue
from jaga.actions.rules import MatchFacts, PlannedAction, RuleSet, decide, facts_from_outcome
from jaga.matching.log import EntryDetails, entry_details
from jaga.matching.types import MatchOutcome
from jaga.store.models import Content


@dataclass(frozen=True)
class ActionPlan:
    decision: str
    planned: tuple[PlannedAction, ...]
    action_ids: tuple[int, ...]
    facts: tuple[MatchFacts, ...]


def plan_actions(
    session: Session,
    rules: RuleSet,
    content: Content,
    outcome: MatchOutcome,
    *,
    details: Mapping[int, EntryDetails] | None = None,
) -> ActionPlan:
    """Evaluate ``rules`` on the content's standing matches and enqueue what they plan.

    ``details`` (entry labels) are looked up when not given. No standing match: ``allow``,
    nothing enqueued.
    """
    if not outcome.matches:
        return ActionPlan("allow", (), (), ())
    if details is None:
        details = entry_details(session, [m.entry_id for m in outcome.matches])
    facts = tuple(facts_from_outcome(outcome, details))
    planned = tuple(rules.evaluate(facts))
    decision = decide(planned)
    context = ActionContext(
        content_id=content.id,
        external_id=content.external_id,
        uploader=content.uploader,
        group_id=content.group_id,
        decision=decision,
        matches=facts,
    )
    ids = enqueue(session, content_id=content.id, planned=planned, context=context.as_json())
    return ActionPlan(decision, planned, tuple(ids), facts)

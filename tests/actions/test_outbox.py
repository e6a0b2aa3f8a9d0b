"""The outbox: enqueue with the content, claim under a lease, complete, fail, back off, dead."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from jaga.actions.outbox import (
    RetryPolicy,
    UnknownAction,
    claim,
    complete,
    count_by_status,
    enqueue,
    fail,
    get_action,
    idempotency_key,
    list_actions,
    release,
    renew,
    retry_dead,
)
from jaga.actions.plan import plan_actions
from jaga.actions.rules import RuleSet
from jaga.errors import InvalidInput
from jaga.matching.log import ContentContext, record_content
from jaga.matching.types import Match, MatchOutcome
from jaga.signals.base import Signal
from jaga.store import Database
from jaga.store.audit import list_events, verify
from jaga.store.models import ActionRow, Bank, BankEntry, Content
from jaga.store.types import utcnow

AddContent = Callable[..., tuple[int, list[int]]]
Plan = Callable[..., Any]


def _claim(database: Database, worker: str = "w1", limit: int = 10, **kwargs: Any) -> list[Any]:
    with database.session(immediate=True) as session:
        return claim(
            session, worker_id=worker, limit=limit, lease_s=kwargs.pop("lease_s", 60), **kwargs
        )


def _status(database: Database, action_id: int) -> str:
    with database.session() as session:
        return get_action(session, action_id).status


# ------------------------------------------------------------------------------ enqueue


def test_enqueue_writes_pending_rows_with_context(
    database: Database, add_content: AddContent, plan: Plan
) -> None:
    content_id, ids = add_content(database, [plan("block"), plan("review", rule="other")])
    assert len(ids) == 2
    with database.session() as session:
        actions = list_actions(session, content_id=content_id)
    assert [(a.id, a.type, a.status, a.attempts) for a in actions] == [
        (ids[0], "block", "pending", 0),
        (ids[1], "review", "pending", 0),
    ]
    context = actions[1].context
    assert context["content_id"] == content_id
    assert context["uploader"] == "user-7"
    assert context["group_id"] == "group-3"
    assert context["matches"][0]["bank"] == "ncmec"
    assert context["reason"] == "rule 'other': test"


def test_enqueue_rolls_back_with_the_content(database: Database, plan: Plan) -> None:
    def crash() -> None:
        with database.session() as session:
            content = record_content(session, ContentContext("upload-x"), [])
            enqueue(session, content_id=content.id, planned=[plan("review")], context={})
            raise RuntimeError("crash before commit")

    with pytest.raises(RuntimeError):
        crash()
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(ActionRow)) == 0
        assert session.scalar(select(func.count()).select_from(Content)) == 0


def test_enqueue_is_idempotent(database: Database, add_content: AddContent, plan: Plan) -> None:
    content_id, ids = add_content(database, [plan("review")])
    with database.session() as session:
        again = enqueue(
            session, content_id=content_id, planned=[plan("review"), plan("report")], context={}
        )
    assert again[0] == ids[0]
    with database.session() as session:
        assert len(list_actions(session)) == 2
    assert idempotency_key(1, "r", "review", "content") != idempotency_key(
        2, "r", "review", "content"
    )


def test_enqueue_refuses_bad_input(database: Database, plan: Plan) -> None:
    with database.session() as session:
        with pytest.raises(InvalidInput, match="not plain JSON"):
            enqueue(session, content_id=1, planned=[plan("review")], context={"x": object()})
        with pytest.raises(InvalidInput, match="unknown action type"):
            enqueue(session, content_id=1, planned=[plan("explode")], context={})
        assert enqueue(session, content_id=1, planned=[], context={}) == []


# -------------------------------------------------------------------- claim and finish


def test_claim_complete(database: Database, add_content: AddContent, plan: Plan) -> None:
    _, (action_id,) = add_content(database, [plan("review")])
    (task,) = _claim(database, "w1")
    assert (task.id, task.attempt, task.worker_id, task.type) == (action_id, 1, "w1", "review")
    assert task.delivery_id == _claim_delivery_id(task)
    info = _info(database, action_id)
    assert (info.status, info.leased_by) == ("running", "w1")
    assert info.lease_until is not None
    assert info.lease_until > utcnow()
    assert _claim(database, "w2") == []  # leased
    with database.session() as session:
        assert complete(session, action_id, result={"ok": 1}, attempt=1, actor="worker")
    info = _info(database, action_id)
    assert (info.status, info.result, info.lease_until) == ("done", {"ok": 1}, None)
    assert info.done_at is not None
    assert _claim(database, "w2", now=utcnow() + timedelta(days=1)) == []  # done is final
    with database.session() as session:
        assert not complete(session, action_id, result={}, attempt=1)  # twice: refused
        (event,) = list_events(session, action="action.done")
        assert event.target == f"action:{action_id}"
        assert event.actor == "worker"


def _claim_delivery_id(task: Any) -> str:
    return f"jaga-action-{task.id}-{task.idempotency_key[:16]}"


def _info(database: Database, action_id: int) -> Any:
    with database.session() as session:
        return get_action(session, action_id)


def test_claim_takes_due_actions_in_order_up_to_the_limit(
    database: Database, add_content: AddContent, plan: Plan
) -> None:
    ids = [add_content(database, [plan("review")], external_id=f"u{i}")[1][0] for i in range(5)]
    first = _claim(database, "w1", limit=2)
    second = _claim(database, "w2", limit=10)
    assert [t.id for t in first] == ids[:2]
    assert [t.id for t in second] == ids[2:]
    with pytest.raises(InvalidInput):
        _claim(database, limit=0)
    with pytest.raises(InvalidInput):
        _claim(database, lease_s=0)


def test_retryable_failure_backs_off_then_dead_letters(
    database: Database, add_content: AddContent, plan: Plan
) -> None:
    _, (action_id,) = add_content(database, [plan("review")])
    policy = RetryPolicy(max_attempts=3, backoff_base_s=10.0, backoff_cap_s=100.0)
    now = utcnow()
    for attempt in (1, 2):
        (task,) = _claim(database, now=now)
        assert task.attempt == attempt
        before = utcnow()
        with database.session() as session:
            status = fail(session, action_id, error="HTTP 503", retryable=True, policy=policy)
        after = utcnow()
        assert status == "pending"
        info = _info(database, action_id)
        assert info.last_error == "HTTP 503"
        ceiling = timedelta(seconds=10.0 * 2 ** (attempt - 1))  # full jitter under the ceiling
        assert before <= info.next_attempt_at <= after + ceiling
        earlier = info.next_attempt_at - timedelta(microseconds=1)
        assert _claim(database, now=earlier) == []  # not due before its time
        now = info.next_attempt_at
    (task,) = _claim(database, now=now)
    with database.session() as session:
        assert fail(session, action_id, error="HTTP 503", retryable=True, policy=policy) == "dead"
    assert _claim(database, now=now + timedelta(days=1)) == []
    with database.session() as session:
        (dead,) = list_actions(session, status="dead")
        assert (dead.id, dead.attempts) == (action_id, 3)
        assert count_by_status(session)["dead"] == 1


def test_non_retryable_failure_fails_at_once(
    database: Database, add_content: AddContent, plan: Plan
) -> None:
    _, (action_id,) = add_content(database, [plan("review")])
    _claim(database)
    with database.session() as session:
        assert (
            fail(session, action_id, error="bad URL", retryable=False, actor="worker") == "failed"
        )
        (event,) = list_events(session, action="action.failed")
        assert event.details["error"] == "bad URL"
    assert _claim(database, now=utcnow() + timedelta(days=1)) == []


def test_expired_lease_is_claimable_again_and_fences_the_old_worker(
    database: Database, add_content: AddContent, plan: Plan
) -> None:
    _, (action_id,) = add_content(database, [plan("review")])
    (old,) = _claim(database, "w1", lease_s=30)
    later = utcnow() + timedelta(seconds=31)
    (new,) = _claim(database, "w2", now=later)  # w1 "died": its lease ran out
    assert (new.id, new.attempt, new.worker_id) == (action_id, 2, "w2")
    with database.session() as session:
        assert not complete(session, action_id, result={}, attempt=old.attempt)
        assert fail(session, action_id, error="x", retryable=True, attempt=old.attempt) is None
        assert not renew(session, action_id, attempt=old.attempt, lease_s=60)
        assert renew(session, action_id, attempt=new.attempt, lease_s=60)
        assert complete(session, action_id, result={}, attempt=new.attempt)
    assert _status(database, action_id) == "done"


def test_expired_lease_with_no_attempts_left_is_dead(
    database: Database, add_content: AddContent, plan: Plan
) -> None:
    _, (action_id,) = add_content(database, [plan("review")])
    now = utcnow()
    for step in range(2):
        _claim(database, now=now + timedelta(seconds=61 * step), max_attempts=2)
    assert _claim(database, now=now + timedelta(seconds=200), max_attempts=2) == []
    info = _info(database, action_id)
    assert info.status == "dead"
    assert "ran out 2 time(s)" in (info.last_error or "")
    with database.session() as session:
        assert list_events(session, action="action.dead")[0].actor == "worker"


def test_release_gives_a_claim_back(
    database: Database, add_content: AddContent, plan: Plan
) -> None:
    _, (action_id,) = add_content(database, [plan("review")])
    (task,) = _claim(database)
    with database.session() as session:
        assert release(session, action_id, attempt=task.attempt)
    info = _info(database, action_id)
    assert (info.status, info.attempts) == ("pending", 0)
    assert [t.id for t in _claim(database)] == [action_id]


def test_retry_dead(database: Database, add_content: AddContent, plan: Plan) -> None:
    _, (action_id, other) = add_content(database, [plan("review"), plan("report")])
    _claim(database, limit=1)
    with database.session() as session:
        fail(session, action_id, error="gone", retryable=True, policy=RetryPolicy(max_attempts=1))
    with database.session() as session:
        retry_dead(session, action_id, actor="cli:alice")
    info = _info(database, action_id)
    assert (info.status, info.attempts) == ("pending", 0)
    with database.session() as session:
        (event,) = list_events(session, action="action.retry")
        assert (event.actor, event.details["was"]) == ("cli:alice", "dead")
        with pytest.raises(InvalidInput, match="only dead or failed"):
            retry_dead(session, other, actor="x")
        with pytest.raises(UnknownAction):
            retry_dead(session, 10_000, actor="x")
        assert verify(session).ok


def test_list_actions_filters_and_validates(
    database: Database, add_content: AddContent, plan: Plan
) -> None:
    first, ids1 = add_content(database, [plan("review"), plan("block")])
    _, ids2 = add_content(database, [plan("review")], external_id="u2")
    with database.session() as session:
        assert [a.id for a in list_actions(session, type="review")] == [ids1[0], ids2[0]]
        assert [a.id for a in list_actions(session, content_id=first)] == ids1
        assert [a.id for a in list_actions(session, after_id=ids1[1])] == ids2
        assert [a.id for a in list_actions(session, limit=1)] == ids1[:1]
        assert list_actions(session, status="done") == []
        with pytest.raises(InvalidInput, match="status"):
            list_actions(session, status="finished")
        with pytest.raises(InvalidInput, match="type"):
            list_actions(session, type="nuke")
        with pytest.raises(InvalidInput, match="limit"):
            list_actions(session, limit=5000)
        with pytest.raises(UnknownAction):
            get_action(session, 999_999)
        assert count_by_status(session) == {
            "pending": 3,
            "running": 0,
            "done": 0,
            "failed": 0,
            "dead": 0,
        }
        assert get_action(session, ids1[0]).as_json()["status"] == "pending"


# -------------------------------------------------------------------- concurrent claims


def test_concurrent_workers_never_claim_the_same_action(
    database: Database, add_content: AddContent, plan: Plan
) -> None:
    total = 40
    for i in range(total):
        add_content(database, [plan("review")], external_id=f"u{i}")
    claimed: dict[str, list[int]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def worker(name: str) -> None:
        mine: list[int] = []
        try:
            start.wait()
            while True:
                tasks = _claim(database, name, limit=3)
                if not tasks:
                    break
                mine += [t.id for t in tasks]
        except BaseException as error:  # collected for the assertion below
            errors.append(error)
        claimed[name] = mine

    threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    every = [i for ids in claimed.values() for i in ids]
    assert len(every) == total
    assert len(set(every)) == total


def test_a_claim_in_progress_is_skipped_not_waited_for(
    database: Database, add_content: AddContent, plan: Plan
) -> None:
    ids = [add_content(database, [plan("review")], external_id=f"u{i}")[1][0] for i in range(6)]
    other: list[int] = []

    def second_worker() -> None:
        other.extend(t.id for t in _claim(database, "w2", limit=10))

    with database.session(immediate=True) as session:
        first = [t.id for t in claim(session, worker_id="w1", limit=3, lease_s=60)]
        thread = threading.Thread(target=second_worker)
        thread.start()
        if database.dialect == "postgresql":
            # SKIP LOCKED: the second worker takes the other rows while this claim is open.
            thread.join(30)
            assert not thread.is_alive()
            assert other == ids[3:]
    thread.join(30)  # SQLite: the second claim waited for the write lock, then ran
    assert first == ids[:3]
    assert sorted(first + other) == ids


# ----------------------------------------------------------------------------- planning


def _outcome(database: Database, labels: str = "A1") -> MatchOutcome:
    with database.session() as session:
        bank = Bank(name="ncmec-2024", kind="known", thresholds={})
        session.add(bank)
        session.flush()
        entry = BankEntry(bank_id=bank.id, signal_type="pdq", value=b"\x01" * 32, labels=labels)
        session.add(entry)
        session.flush()
        match = Match(bank.id, bank.name, "known", entry.id, "pdq", 4, Signal("pdq", b"\x01" * 32))
    return MatchOutcome(matches=(match,))


def test_plan_actions_decides_and_enqueues_with_the_content(database: Database) -> None:
    outcome = _outcome(database)
    rules = RuleSet.from_toml(
        '[[rules]]\nname = "a1"\nlabels = ["A1"]\nactions = ["block", "review", "report"]\n'
    )
    with database.session() as session:
        content = record_content(
            session, ContentContext("up-1", uploader="u", group_id="g"), [], outcome
        )
        result = plan_actions(session, rules, content, outcome)
    assert result.decision == "block"
    assert [p.type for p in result.planned] == ["block", "review", "report"]
    assert result.facts[0].labels == ("A1",)
    with database.session() as session:
        actions = list_actions(session, content_id=content.id)
    assert [a.id for a in actions] == list(result.action_ids)
    assert actions[0].context["decision"] == "block"
    assert actions[0].context["external_id"] == "up-1"


def test_plan_actions_allows_when_no_rule_applies(database: Database) -> None:
    outcome = _outcome(database, labels="B2")
    rules = RuleSet.from_toml('[[rules]]\nname = "a1"\nlabels = ["A1"]\nactions = ["block"]\n')
    with database.session() as session:
        content = record_content(session, ContentContext("up-1"), [], outcome)
        assert plan_actions(session, rules, content, outcome).decision == "allow"
        empty = plan_actions(session, rules, content, MatchOutcome())
        assert (empty.decision, empty.action_ids) == ("allow", ())
    with database.session() as session:
        assert list_actions(session) == []

"""Executors and the worker against a real local webhook receiver: idempotent effects, retries
with backoff, dead letters, platform enforcement, and an audit row for every outcome."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from jaga.actions.executors import (
    PLATFORM_SECRET_ENV,
    PLATFORM_URL_ENV,
    ActionExecutors,
    ExecutionOutcome,
    ExecutorConfig,
    default_executors,
)
from jaga.actions.outbox import ActionTask, get_action, list_actions, retry_dead
from jaga.actions.worker import Worker, WorkerSettings
from jaga.errors import InvalidInput, JagaError
from jaga.store import Database
from jaga.store.audit import list_events, verify
from jaga.store.models import Report, ReviewCase, WebhookDelivery

AddContent = Callable[..., tuple[int, list[int]]]
Plan = Callable[..., Any]
SECRET_ENV = {"HOOK_SECRET": "whsec-receiver-secret-0123456789"}


def _worker(
    database: Database,
    config: ExecutorConfig | None = None,
    *,
    max_attempts: int = 3,
    executors: dict[str, Any] | None = None,
) -> Worker:
    config = config or ExecutorConfig(env=SECRET_ENV, timeout_s=5)
    return Worker(
        database,
        executors if executors is not None else default_executors(database, config),
        worker_id="test-worker",
        batch=5,
        lease_s=30,
        poll_s=0.01,
        max_attempts=max_attempts,
        backoff_base_s=0.001,
        backoff_cap_s=0.002,
    )


def _run_until_settled(worker: Worker, database: Database, rounds: int = 200) -> None:
    """Run batches until no action is pending or running (backoffs here are milliseconds)."""
    for _ in range(rounds):
        worker.run_once()
        with database.session() as session:
            if not list_actions(session, status="pending") and not list_actions(
                session, status="running"
            ):
                return
    raise AssertionError("actions did not settle")


def _deliveries(database: Database) -> list[WebhookDelivery]:
    with database.session() as session:
        return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def _task(action_id: int, type_: str, content_id: int = 1, **context: Any) -> ActionTask:
    return ActionTask(action_id, content_id, type_, "r", "content", {}, context, 1, "k" * 64, "w")


# ----------------------------------------------------------------- database executors


def test_review_and_report_are_idempotent(
    database: Database, add_content: AddContent, plan: Plan
) -> None:
    content_id, _ = add_content(database)
    executors = ActionExecutors(database, ExecutorConfig(env={}))
    task = _task(1, "review", content_id, reason="rule 'r': why")
    first = executors.review(task)
    second = executors.review(task)
    assert first.ok
    assert second.ok
    assert first.result["created"] is True
    assert second.result["created"] is False
    assert first.result["review_case_id"] == second.result["review_case_id"]
    report = executors.report(_task(2, "report", content_id))
    assert executors.report(_task(2, "report", content_id)).result == {
        "report_id": report.result["report_id"],
        "created": False,
    }
    with database.session() as session:
        (case,) = session.scalars(select(ReviewCase)).all()
        assert (case.content_id, case.status, case.reason) == (content_id, "open", "rule 'r': why")
        (draft,) = session.scalars(select(Report)).all()
        assert (draft.content_id, draft.status) == (content_id, "draft")


def test_worker_runs_block_review_report_and_audits_each(
    database: Database, add_content: AddContent, plan: Plan
) -> None:
    _, ids = add_content(database, [plan("block"), plan("review"), plan("report")])
    worker = _worker(database)
    assert worker.run_once() == 3
    assert worker.run_once() == 0
    with database.session() as session:
        assert [get_action(session, i).status for i in ids] == ["done"] * 3
        events = list_events(session, action="action.done")
        assert sorted(e.target for e in events) == sorted(f"action:{i}" for i in ids)
        assert {e.actor for e in events} == {"worker"}
        assert {e.details["worker"] for e in events} == {"test-worker"}
        assert verify(session).ok
        assert session.scalars(select(ReviewCase.content_id)).all()


# ------------------------------------------------------------------------- webhooks


def test_webhook_is_signed_delivered_and_recorded(
    database: Database, add_content: AddContent, hook: Plan, receiver: Any
) -> None:
    content_id, (action_id,) = add_content(database, [hook(receiver.url, event="match.known")])
    worker = _worker(database)
    assert worker.run_once() == 1
    assert receiver.bad_signatures == 0
    (envelope,) = receiver.requests
    assert envelope["event"] == "match.known"
    data = envelope["data"]
    assert data["action"]["id"] == action_id
    assert data["content"] == {
        "id": content_id,
        "external_id": "upload-1",
        "uploader": "user-7",
        "group_id": "group-3",
    }
    assert data["matches"][0]["bank"] == "ncmec"
    (delivery,) = _deliveries(database)
    assert (delivery.ok, delivery.status_code, delivery.attempt) == (True, 200, 1)
    assert delivery.delivery_id == envelope["id"]
    with database.session() as session:
        info = get_action(session, action_id)
    assert info.status == "done"
    assert info.result is not None
    assert info.result["delivery_id"] == envelope["id"]


def test_webhook_target_down_retries_with_backoff_then_dead_letters(
    database: Database, add_content: AddContent, hook: Plan, dead_url: str
) -> None:
    _, (action_id,) = add_content(database, [hook(dead_url)])
    worker = _worker(database, max_attempts=3)
    _run_until_settled(worker, database)
    with database.session() as session:
        (dead,) = list_actions(session, status="dead")
        assert (dead.id, dead.attempts) == (action_id, 3)
        assert dead.last_error
        assert dead_url in dead.last_error
        assert len(list_events(session, action="action.retry_scheduled")) == 2
        assert len(list_events(session, action="action.dead")) == 1
    deliveries = _deliveries(database)
    assert [d.attempt for d in deliveries] == [1, 2, 3]
    assert not any(d.ok for d in deliveries)
    assert len({d.delivery_id for d in deliveries}) == 1  # the same id on every attempt
    assert all(d.error for d in deliveries)


def test_server_errors_are_retried_until_delivered(
    database: Database, add_content: AddContent, hook: Plan, receiver: Any
) -> None:
    receiver.status_for = lambda n: 503 if n <= 2 else 200
    _, (action_id,) = add_content(database, [hook(receiver.url)])
    _run_until_settled(_worker(database, max_attempts=5), database)
    assert [d.status_code for d in _deliveries(database)] == [503, 503, 200]
    assert len(receiver.effects) == 1
    with database.session() as session:
        assert get_action(session, action_id).status == "done"


def test_client_error_fails_without_retry_and_can_be_requeued(
    database: Database, add_content: AddContent, hook: Plan, receiver: Any
) -> None:
    receiver.status_for = lambda n: 400 if n == 1 else 200
    _, (action_id,) = add_content(database, [hook(receiver.url)])
    worker = _worker(database)
    _run_until_settled(worker, database)
    with database.session() as session:
        info = get_action(session, action_id)
        assert (info.status, info.attempts) == ("failed", 1)
        assert "HTTP 400" in (info.last_error or "")
        retry_dead(session, action_id, actor="cli:ops")
    _run_until_settled(worker, database)
    with database.session() as session:
        assert get_action(session, action_id).status == "done"


def test_webhook_without_its_secret_fails_clearly(
    database: Database, add_content: AddContent, hook: Plan, receiver: Any
) -> None:
    _, (action_id,) = add_content(database, [hook(receiver.url, secret_env="MISSING_SECRET")])
    _worker(database).run_once()
    with database.session() as session:
        info = get_action(session, action_id)
    assert info.status == "failed"
    assert "MISSING_SECRET" in (info.last_error or "")
    assert receiver.requests == []


# ---------------------------------------------------------------- platform enforcement


def test_platform_actions_fail_when_no_endpoint_is_configured(
    database: Database, add_content: AddContent, plan: Plan
) -> None:
    _, ids = add_content(database, [plan("remove"), plan("disable_account"), plan("review_group")])
    _worker(database, ExecutorConfig(env={})).run_once()
    with database.session() as session:
        infos = [get_action(session, i) for i in ids]
    assert [i.status for i in infos] == ["failed"] * 3  # never silently "done"
    assert all(PLATFORM_URL_ENV in (i.last_error or "") for i in infos)


def test_platform_actions_are_signed_webhooks(
    database: Database, add_content: AddContent, plan: Plan, receiver: Any
) -> None:
    _, ids = add_content(database, [plan("remove"), plan("disable_account"), plan("review_group")])
    config = ExecutorConfig.from_env(
        {PLATFORM_URL_ENV: receiver.url, PLATFORM_SECRET_ENV: receiver.secret.decode()}
    )
    _worker(database, config).run_once()
    events = {r["event"]: r["data"] for r in receiver.requests}
    assert set(events) == {"action.remove", "action.disable_account", "action.review_group"}
    assert events["action.disable_account"]["account"] == "user-7"
    assert events["action.review_group"]["group"] == "group-3"
    assert events["action.remove"]["content"]["external_id"] == "upload-1"
    assert receiver.bad_signatures == 0
    with database.session() as session:
        assert [get_action(session, i).status for i in ids] == ["done"] * 3


def test_account_and_group_actions_need_an_account_and_a_group(
    database: Database, add_content: AddContent, plan: Plan, receiver: Any
) -> None:
    _, ids = add_content(
        database, [plan("disable_account"), plan("review_group")], uploader=None, group_id=None
    )
    config = ExecutorConfig(receiver.url, receiver.secret, {})
    _worker(database, config).run_once()
    with database.session() as session:
        errors = [get_action(session, i).last_error or "" for i in ids]
    assert "no uploader" in errors[0]
    assert "no group" in errors[1]
    assert receiver.requests == []


def test_platform_secret_is_required(
    database: Database, add_content: AddContent, plan: Plan, receiver: Any
) -> None:
    _, (action_id,) = add_content(database, [plan("remove")])
    _worker(database, ExecutorConfig(receiver.url, None, {})).run_once()
    with database.session() as session:
        assert PLATFORM_SECRET_ENV in (get_action(session, action_id).last_error or "")


# ----------------------------------------------------------------------- the worker


def test_executor_errors_are_classified(
    database: Database, add_content: AddContent, plan: Plan
) -> None:
    def broken(task: ActionTask) -> ExecutionOutcome:
        raise RuntimeError("database hiccup")

    def misconfigured(task: ActionTask) -> ExecutionOutcome:
        raise JagaError("bad configuration")

    _, (flaky, bad, unknown) = add_content(
        database, [plan("review"), plan("report"), plan("block")]
    )
    worker = _worker(
        database, executors={"review": broken, "report": misconfigured}, max_attempts=2
    )
    _run_until_settled(worker, database)
    with database.session() as session:
        assert get_action(session, flaky).status == "dead"  # retried, then given up
        assert "RuntimeError: database hiccup" in (get_action(session, flaky).last_error or "")
        assert get_action(session, bad).status == "failed"
        assert get_action(session, bad).attempts == 1
        assert "no executor for action type 'block'" in (
            get_action(session, unknown).last_error or ""
        )


def test_worker_thread_starts_and_stops(
    database: Database, add_content: AddContent, plan: Plan
) -> None:
    worker = _worker(database)
    thread = worker.start_thread()
    assert worker.start_thread() is thread
    _, (action_id,) = add_content(database, [plan("review")])
    try:
        for _ in range(2000):
            with database.session() as session:
                if get_action(session, action_id).status == "done":
                    break
            thread.join(0.01)
        else:
            raise AssertionError("the worker thread did not run the action")
    finally:
        worker.stop()
    assert not thread.is_alive()


def test_stopping_mid_batch_gives_unstarted_actions_back(
    database: Database, add_content: AddContent, plan: Plan
) -> None:
    worker: Worker | None = None

    def stop_after_first(task: ActionTask) -> ExecutionOutcome:
        assert worker is not None
        worker.stop()
        return ExecutionOutcome.done()

    _, ids = add_content(database, [plan("review"), plan("report"), plan("block")])
    worker = _worker(
        database, executors=dict.fromkeys(("review", "report", "block"), stop_after_first)
    )
    assert worker.run_once() == 3
    with database.session() as session:
        states = [(get_action(session, i).status, get_action(session, i).attempts) for i in ids]
    assert states == [("done", 1), ("pending", 0), ("pending", 0)]


def test_settings_from_env() -> None:
    settings = WorkerSettings.from_env(
        {"JAGA_WORKER_BATCH": "3", "JAGA_WORKER_LEASE_S": "1.5", "JAGA_WORKER_MAX_ATTEMPTS": "2"}
    )
    assert (settings.batch, settings.lease_s, settings.max_attempts) == (3, 1.5, 2)
    with pytest.raises(InvalidInput, match="JAGA_WORKER_LEASE_S"):
        WorkerSettings.from_env({"JAGA_WORKER_LEASE_S": "soon"})
    with pytest.raises(InvalidInput):
        Worker(None, {}, batch=0)  # type: ignore[arg-type]
    assert json.dumps(ExecutorConfig.from_env({}).platform_url) == "null"

"""The outbox: actions as durable rows, claimed by workers under a lease, retried with backoff.

Why an outbox: the decision to act is written in the same transaction as the content and its
match log (:func:`enqueue`), so a crash can lose neither; the slow, failure-prone part
(calling a platform, posting a webhook) happens later, in a worker, and is retried until it
works or is given up on visibly.

States::

    pending --claim--> running --complete--> done
       ^                  |  \\--fail(retryable), attempts left--> pending (after a backoff)
       |                  |   \\-fail(retryable), none left------> dead
       |                  \\----fail(not retryable)--------------> failed
       |   running whose lease ran out (worker killed) --claim--> running again
       \\------ retry_dead (an operator) <------ dead | failed

``attempts`` counts claims, so an action that kills its worker every time also ends ``dead``.
Every state change takes a *fencing* ``attempt``: a worker whose lease ran out and whose action
was claimed again cannot complete or fail it any more (it gets ``False``/``None`` back).

Claiming is safe with many workers: on PostgreSQL ``SELECT ... FOR UPDATE SKIP LOCKED`` (workers
never wait for each other and never take the same row); on SQLite the claim takes the
database's single write lock before it reads, so claims are one at a time.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from jaga.actions.rules import ACTION_TYPES, MatchFacts, PlannedAction
from jaga.actions.webhooks import backoff_delay
from jaga.errors import InvalidInput, NotFound
from jaga.store import audit
from jaga.store.models import ACTION_STATUSES, ActionRow
from jaga.store.types import utcnow

MAX_LIST: Final = 1_000
#: Retry delays are uniform in [0, base * 2**(attempt-1)], capped: with 8 attempts the seven
#: waits add up to about half an hour on average and an hour at most -- long enough to ride out
#: a receiver's restart or short outage before an action is dead-lettered.
DEFAULT_BACKOFF_BASE_S: Final = 30.0
#: The audit actor of everything the worker does (the worker's id is in the details).
WORKER_ACTOR: Final = "worker"
_MAX_ERROR: Final = 2_000


class UnknownAction(NotFound):
    """No action with that id."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how far apart failed actions are retried (env: ``JAGA_WORKER_*``)."""

    max_attempts: int = 8
    backoff_base_s: float = DEFAULT_BACKOFF_BASE_S
    backoff_cap_s: float = 3600.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise InvalidInput(f"max_attempts must be >= 1, got {self.max_attempts}")
        if not (self.backoff_base_s > 0 and self.backoff_cap_s >= 0):
            raise InvalidInput("backoff base must be > 0 s and cap >= 0 s")

    def delay(self, attempt: int) -> float:
        return backoff_delay(attempt, base=self.backoff_base_s, cap=self.backoff_cap_s)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RetryPolicy:
        env = os.environ if env is None else env
        return cls(
            max_attempts=env_int(env, "JAGA_WORKER_MAX_ATTEMPTS", 8),
            backoff_base_s=env_float(env, "JAGA_WORKER_BACKOFF_BASE_S", DEFAULT_BACKOFF_BASE_S),
            backoff_cap_s=env_float(env, "JAGA_WORKER_BACKOFF_CAP_S", 3600.0),
        )


def env_float(env: Mapping[str, str], name: str, default: float) -> float:
    """A number from the environment; a malformed one is an error, not a silent default."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be a number, got {raw!r}") from None


def env_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be a whole number, got {raw!r}") from None


def _write_lock(session: Session) -> None:
    """On SQLite, take the single write lock before reading rows we are about to change.

    Otherwise a read-then-write transaction can fail with "database is locked" when another
    connection wrote in between. A write that matches nothing still takes the lock.
    """
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("UPDATE actions SET id = id WHERE 0"))


@dataclass(frozen=True)
class ActionTask:
    """A claimed action, as an executor sees it. ``attempt`` is 1 on the first try."""

    id: int
    content_id: int
    type: str
    rule: str
    target: str
    params: Mapping[str, Any]
    context: Mapping[str, Any]
    attempt: int
    idempotency_key: str
    worker_id: str

    @property
    def delivery_id(self) -> str:
        """Stable across attempts (receivers de-duplicate on it), unique across databases."""
        return f"jaga-action-{self.id}-{self.idempotency_key[:16]}"


@dataclass(frozen=True)
class ActionInfo:
    id: int
    content_id: int
    type: str
    rule: str
    target: str
    status: str
    attempts: int
    next_attempt_at: datetime
    lease_until: datetime | None
    leased_by: str | None
    last_error: str | None
    result: Mapping[str, Any] | None
    params: Mapping[str, Any]
    context: Mapping[str, Any]
    created_at: datetime
    updated_at: datetime
    done_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        def stamp(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {
            "id": self.id,
            "content_id": self.content_id,
            "type": self.type,
            "rule": self.rule,
            "target": self.target,
            "status": self.status,
            "attempts": self.attempts,
            "next_attempt_at": stamp(self.next_attempt_at),
            "lease_until": stamp(self.lease_until),
            "leased_by": self.leased_by,
            "last_error": self.last_error,
            "result": dict(self.result) if self.result is not None else None,
            "params": dict(self.params),
            "context": dict(self.context),
            "created_at": stamp(self.created_at),
            "updated_at": stamp(self.updated_at),
            "done_at": stamp(self.done_at),
        }


@dataclass(frozen=True)
class ActionContext:
    """What executors and webhook receivers are told about the content an action is for."""

    content_id: int
    external_id: str | None = None
    uploader: str | None = None
    group_id: str | None = None
    decision: str | None = None
    matches: Sequence[MatchFacts] = field(default_factory=tuple)

    def as_json(self) -> dict[str, object]:
        return {
            "content_id": self.content_id,
            "external_id": self.external_id,
            "uploader": self.uploader,
            "group_id": self.group_id,
            "decision": self.decision,
            "matches": [m.as_json() for m in self.matches],
        }


def idempotency_key(content_id: int, rule: str, type_: str, target: str) -> str:
    """One key per (content, rule, action type, target): enqueueing it twice is a no-op."""
    material = json.dumps([content_id, rule, type_, target], separators=(",", ":"))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def _plain_json(value: Mapping[str, object], what: str) -> dict[str, Any]:
    try:
        return dict(json.loads(json.dumps(dict(value), allow_nan=False)))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"action {what} is not plain JSON: {exc}") from None


def enqueue(
    session: Session,
    *,
    content_id: int,
    planned: Sequence[PlannedAction],
    context: Mapping[str, object],
) -> list[int]:
    """Write one pending row per planned action in the caller's transaction; return their ids.

    Ids are in the order of ``planned``. An action already enqueued (same idempotency key) is
    not written again; its existing id is returned.
    """
    if not planned:
        return []
    context_json = _plain_json(context, "context")
    rows: list[dict[str, Any]] = []
    for action in planned:
        if action.type not in ACTION_TYPES:
            raise InvalidInput(f"unknown action type {action.type!r}")
        rows.append(
            {
                "content_id": content_id,
                "type": action.type,
                "rule": action.rule,
                "target": action.target,
                "params": _plain_json(action.params, "params"),
                "context": {**context_json, "reason": action.reason},
                "status": "pending",
                "attempts": 0,
                "idempotency_key": idempotency_key(
                    content_id, action.rule, action.type, action.target
                ),
            }
        )
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    session.execute(
        insert(ActionRow).values(rows).on_conflict_do_nothing(index_elements=["idempotency_key"])
    )
    keys = [row["idempotency_key"] for row in rows]
    found = session.execute(
        select(ActionRow.idempotency_key, ActionRow.id).where(ActionRow.idempotency_key.in_(keys))
    )
    ids: dict[str, int] = dict(found.all())  # .all(): a Result has keys() but is no mapping
    return [ids[key] for key in keys]


def _task(row: ActionRow) -> ActionTask:
    return ActionTask(
        id=row.id,
        content_id=row.content_id,
        type=row.type,
        rule=row.rule,
        target=row.target,
        params=dict(row.params or {}),
        context=dict(row.context or {}),
        attempt=row.attempts,
        idempotency_key=row.idempotency_key,
        worker_id=row.leased_by or "",
    )


def _info(row: ActionRow) -> ActionInfo:
    return ActionInfo(
        id=row.id,
        content_id=row.content_id,
        type=row.type,
        rule=row.rule,
        target=row.target,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        lease_until=row.lease_until,
        leased_by=row.leased_by,
        last_error=row.last_error,
        result=dict(row.result) if row.result is not None else None,
        params=dict(row.params or {}),
        context=dict(row.context or {}),
        created_at=row.created_at,
        updated_at=row.updated_at,
        done_at=row.done_at,
    )


def has_due(session: Session, *, now: datetime | None = None) -> bool:
    """Whether any action is due: a cheap read, so idle workers need no write lock to poll."""
    now = now or utcnow()
    found = session.scalar(
        select(ActionRow.id)
        .where(ActionRow.status.in_(("pending", "running")), ActionRow.next_attempt_at <= now)
        .limit(1)
    )
    return found is not None


def claim(
    session: Session,
    *,
    worker_id: str,
    limit: int,
    lease_s: float,
    max_attempts: int | None = None,
    now: datetime | None = None,
) -> list[ActionTask]:
    """Lease up to ``limit`` due actions to ``worker_id`` for ``lease_s`` seconds.

    Due: pending with its backoff over, or running with its lease over (its worker died).
    With ``max_attempts``, an expired action that already used them all goes ``dead`` instead
    (something about it kills workers). Commit promptly: the claim holds locks until then.
    """
    if limit < 1:
        raise InvalidInput(f"claim limit must be >= 1, got {limit}")
    if not lease_s > 0:
        raise InvalidInput(f"lease must be > 0 s, got {lease_s}")
    now = now or utcnow()
    dialect = session.get_bind().dialect.name
    query = (
        select(ActionRow)
        .where(ActionRow.status.in_(("pending", "running")), ActionRow.next_attempt_at <= now)
        .order_by(ActionRow.next_attempt_at, ActionRow.id)
        .limit(limit)
    )
    if dialect == "postgresql":
        query = query.with_for_update(skip_locked=True)
    else:
        _write_lock(session)  # no other claimer reads the same due rows before we mark them
    lease_until = now + timedelta(seconds=lease_s)
    tasks: list[ActionTask] = []
    dead: list[ActionRow] = []
    for row in session.scalars(query).all():
        if row.status == "running" and max_attempts is not None and row.attempts >= max_attempts:
            row.status = "dead"
            row.last_error = (
                f"lease held by {row.leased_by} ran out {row.attempts} time(s) without the action "
                "finishing (worker killed or stuck)"
            )
            row.lease_until = None
            dead.append(row)
            continue
        row.status = "running"
        row.attempts += 1
        row.leased_by = worker_id
        row.lease_until = lease_until
        row.next_attempt_at = lease_until
        tasks.append(_task(row))
    session.flush()
    for row in dead:
        _audit_state(session, row, actor=WORKER_ACTOR, action="action.dead")
    return tasks


def _audit_state(
    session: Session,
    row: ActionRow,
    *,
    actor: str,
    action: str,
    extra: Mapping[str, object] | None = None,
) -> None:
    details: dict[str, object] = {
        "type": row.type,
        "rule": row.rule,
        "content_id": row.content_id,
        "attempts": row.attempts,
        "status": row.status,
        "worker": row.leased_by,
    }
    if row.last_error and row.status != "done":
        details["error"] = row.last_error
    details.update(extra or {})
    audit.append(session, actor=actor, action=action, target=f"action:{row.id}", details=details)


def _leased(session: Session, action_id: int, attempt: int | None) -> ActionRow | None:
    """The row if it is still running under ``attempt``'s lease (locked until commit)."""
    _write_lock(session)
    row = session.get(ActionRow, action_id, with_for_update=True, populate_existing=True)
    if row is None:
        raise UnknownAction(f"no action {action_id}")
    if row.status != "running" or (attempt is not None and row.attempts != attempt):
        return None
    return row


def complete(
    session: Session,
    action_id: int,
    *,
    result: Mapping[str, object],
    attempt: int | None = None,
    actor: str | None = None,
) -> bool:
    """Mark a running action done. False if its lease was lost (it is someone else's now).

    With ``actor``, the outcome is audited in the same transaction.
    """
    result_json = _plain_json(result, "result")
    row = _leased(session, action_id, attempt)
    if row is None:
        return False
    now = utcnow()
    row.status = "done"
    row.result = result_json
    row.done_at = now
    row.lease_until = None
    session.flush()
    if actor is not None:
        _audit_state(session, row, actor=actor, action="action.done", extra={"result": result_json})
    return True


def fail(
    session: Session,
    action_id: int,
    *,
    error: str,
    retryable: bool,
    attempt: int | None = None,
    policy: RetryPolicy | None = None,
    actor: str | None = None,
) -> str | None:
    """Record a failed attempt; returns the new status (None if the lease was lost).

    Retryable with attempts left: back to ``pending`` after a backoff. Retryable with none
    left: ``dead``. Not retryable: ``failed`` at once (retrying cannot help: fix and requeue).
    """
    policy = policy or RetryPolicy()
    row = _leased(session, action_id, attempt)
    if row is None:
        return None
    now = utcnow()
    row.last_error = " ".join(str(error).split())[:_MAX_ERROR] or "unknown error"
    row.lease_until = None
    if not retryable:
        row.status = "failed"
    elif row.attempts >= policy.max_attempts:
        row.status = "dead"
    else:
        row.status = "pending"
        row.next_attempt_at = now + timedelta(seconds=policy.delay(row.attempts))
    session.flush()
    if actor is not None:
        event = {"pending": "action.retry_scheduled"}.get(row.status, f"action.{row.status}")
        _audit_state(session, row, actor=actor, action=event)
    return row.status


def renew(session: Session, action_id: int, *, attempt: int, lease_s: float) -> bool:
    """Extend a lease still held under ``attempt`` (for long batches); False if it was lost."""
    until = utcnow() + timedelta(seconds=lease_s)
    changed = session.execute(
        update(ActionRow)
        .where(
            ActionRow.id == action_id,
            ActionRow.status == "running",
            ActionRow.attempts == attempt,
        )
        .values(lease_until=until, next_attempt_at=until, updated_at=utcnow())
    )
    return bool(getattr(changed, "rowcount", 0))


def release(session: Session, action_id: int, *, attempt: int) -> bool:
    """Give back a claimed action not started (a worker shutting down); the claim is undone."""
    changed = session.execute(
        update(ActionRow)
        .where(
            ActionRow.id == action_id,
            ActionRow.status == "running",
            ActionRow.attempts == attempt,
        )
        .values(
            status="pending",
            attempts=ActionRow.attempts - 1,
            lease_until=None,
            leased_by=None,
            next_attempt_at=utcnow(),
            updated_at=utcnow(),
        )
    )
    return bool(getattr(changed, "rowcount", 0))


def get_action(session: Session, action_id: int) -> ActionInfo:
    row = session.get(ActionRow, action_id)
    if row is None:
        raise UnknownAction(f"no action {action_id}")
    return _info(row)


def list_actions(
    session: Session,
    *,
    status: str | None = None,
    type: str | None = None,
    content_id: int | None = None,
    after_id: int = 0,
    limit: int = 100,
) -> list[ActionInfo]:
    """Actions in id order after ``after_id`` (page by passing the last id you saw)."""
    if status is not None and status not in ACTION_STATUSES:
        raise InvalidInput(f"unknown action status {status!r}; expected one of {ACTION_STATUSES}")
    if type is not None and type not in ACTION_TYPES:
        raise InvalidInput(f"unknown action type {type!r}; expected one of {ACTION_TYPES}")
    if limit < 1 or limit > MAX_LIST:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIST}, got {limit}")
    query = select(ActionRow).where(ActionRow.id > after_id)
    if status is not None:
        query = query.where(ActionRow.status == status)
    if type is not None:
        query = query.where(ActionRow.type == type)
    if content_id is not None:
        query = query.where(ActionRow.content_id == content_id)
    return [_info(row) for row in session.scalars(query.order_by(ActionRow.id).limit(limit))]


def count_by_status(session: Session) -> dict[str, int]:
    """How many actions are in each state (every state present, zero or not)."""
    counts = dict.fromkeys(ACTION_STATUSES, 0)
    rows = session.execute(select(ActionRow.status, func.count()).group_by(ActionRow.status))
    for status, count in rows:
        counts[status] = int(count)
    return counts


def retry_dead(session: Session, action_id: int, *, actor: str) -> None:
    """Requeue a ``dead`` or ``failed`` action with a fresh set of attempts (audited)."""
    _write_lock(session)
    row = session.get(ActionRow, action_id, with_for_update=True, populate_existing=True)
    if row is None:
        raise UnknownAction(f"no action {action_id}")
    if row.status not in ("dead", "failed"):
        raise InvalidInput(f"action {action_id} is {row.status}; only dead or failed actions retry")
    previous = row.status
    row.status = "pending"
    row.attempts = 0
    row.next_attempt_at = utcnow()
    row.lease_until = None
    row.leased_by = None
    session.flush()
    _audit_state(session, row, actor=actor, action="action.retry", extra={"was": previous})

"""Executors: what each action type does when a worker runs it. Each one is idempotent.

Running the same action twice has the effect of running it once, because a worker can die
after acting but before marking the action done, and then the action runs again:

* ``block``: nothing to do; the decision was returned to the uploader synchronously.
* ``review`` / ``report``: insert the content's review case / draft report, or find the one
  already there (one per content, enforced by a unique column).
* ``remove``, ``disable_account``, ``review_group``: a signed webhook to the platform's
  enforcement endpoint (``JAGA_PLATFORM_WEBHOOK_URL``, secret ``JAGA_PLATFORM_WEBHOOK_SECRET``),
  event ``action.<type>``. Jaga cannot take content down itself; the platform does, and
  de-duplicates on the delivery id, which is the same on every attempt of an action. With no
  endpoint configured the action *fails* (not retryable) with a message saying so: it is never
  quietly marked done.
* ``webhook``: a signed POST to the rule's URL, with the secret read from the environment
  variable the rule names.

Every delivery attempt, successful or not, is recorded as a ``WebhookDelivery`` row.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import httpx
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from jaga.actions.outbox import ActionTask, env_float
from jaga.actions.webhooks import DeliveryResult, deliver
from jaga.store.db import Database
from jaga.store.models import Report, ReviewCase, WebhookDelivery

PLATFORM_URL_ENV: Final = "JAGA_PLATFORM_WEBHOOK_URL"
PLATFORM_SECRET_ENV: Final = "JAGA_PLATFORM_WEBHOOK_SECRET"
TIMEOUT_ENV: Final = "JAGA_WEBHOOK_TIMEOUT_S"
PLATFORM_ACTIONS: Final = ("remove", "disable_account", "review_group")


@dataclass(frozen=True)
class ExecutionOutcome:
    """What running an action did: done with a result, or failed (retryable or not)."""

    ok: bool
    result: Mapping[str, object] = field(default_factory=dict)
    error: str | None = None
    retryable: bool = False

    @classmethod
    def done(cls, **result: object) -> ExecutionOutcome:
        return cls(True, result)

    @classmethod
    def failed(cls, error: str, *, retryable: bool) -> ExecutionOutcome:
        return cls(False, {}, error, retryable)


Executor = Callable[[ActionTask], ExecutionOutcome]


@dataclass(frozen=True)
class ExecutorConfig:
    """Where enforcement goes and where webhook secrets come from.

    ``env`` is where a webhook rule's ``secret_env`` is looked up (the process environment by
    default), so secrets live in the environment or a secret manager, never in the rules file.
    """

    platform_url: str | None = None
    platform_secret: bytes | None = None
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    timeout_s: float = 10.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ExecutorConfig:
        env = dict(os.environ if env is None else env)
        secret = env.get(PLATFORM_SECRET_ENV, "")
        return cls(
            platform_url=env.get(PLATFORM_URL_ENV, "").strip() or None,
            platform_secret=secret.encode("utf-8") if secret else None,
            env=env,
            timeout_s=env_float(env, TIMEOUT_ENV, 10.0),
        )


def webhook_payload(task: ActionTask) -> dict[str, object]:
    """The ``data`` of a webhook for an action: the action, the content and its matches."""
    context: Mapping[str, Any] = task.context
    return {
        "action": {
            "id": task.id,
            "type": task.type,
            "rule": task.rule,
            "reason": context.get("reason"),
        },
        "content": {
            "id": task.content_id,
            "external_id": context.get("external_id"),
            "uploader": context.get("uploader"),
            "group_id": context.get("group_id"),
        },
        "decision": context.get("decision"),
        "matches": list(context.get("matches") or []),
    }


class ActionExecutors:
    """The built-in executors, sharing one database, configuration and (optional) HTTP client."""

    def __init__(
        self,
        db: Database,
        config: ExecutorConfig | None = None,
        *,
        client: httpx.Client | None = None,
    ) -> None:
        self.db = db
        self.config = config or ExecutorConfig.from_env()
        self.client = client

    def mapping(self) -> dict[str, Executor]:
        return {
            "block": self.block,
            "review": self.review,
            "report": self.report,
            "remove": self.platform,
            "disable_account": self.platform,
            "review_group": self.platform,
            "webhook": self.webhook,
        }

    # ------------------------------------------------------------------ database-only actions

    def block(self, task: ActionTask) -> ExecutionOutcome:
        return ExecutionOutcome.done(note="blocked synchronously when the content was checked")

    def review(self, task: ActionTask) -> ExecutionOutcome:
        reason = str(task.context.get("reason") or f"rule {task.rule!r}")
        case_id, created = self._insert_once(
            ReviewCase, task.content_id, {"status": "open", "reason": reason}
        )
        return ExecutionOutcome.done(review_case_id=case_id, created=created)

    def report(self, task: ActionTask) -> ExecutionOutcome:
        report_id, created = self._insert_once(Report, task.content_id, {"status": "draft"})
        return ExecutionOutcome.done(report_id=report_id, created=created)

    def _insert_once(
        self, model: type[ReviewCase] | type[Report], content_id: int, values: dict[str, Any]
    ) -> tuple[int, bool]:
        with self.db.session() as session:
            insert = postgresql_insert if self.db.dialect == "postgresql" else sqlite_insert
            inserted = session.execute(
                insert(model)
                .values(content_id=content_id, **values)
                .on_conflict_do_nothing(index_elements=["content_id"])
                .returning(model.id)
            ).scalar()
            if inserted is not None:
                return int(inserted), True
            existing = session.scalar(select(model.id).where(model.content_id == content_id))
            assert existing is not None  # the conflict was with this row
            return int(existing), False

    # ------------------------------------------------------------------------------ webhooks

    def platform(self, task: ActionTask) -> ExecutionOutcome:
        url, secret = self.config.platform_url, self.config.platform_secret
        if not url:
            return ExecutionOutcome.failed(
                f"no platform endpoint for {task.type}: set {PLATFORM_URL_ENV} and "
                f"{PLATFORM_SECRET_ENV} so Jaga can ask the platform to act",
                retryable=False,
            )
        if not secret:
            return ExecutionOutcome.failed(
                f"{PLATFORM_SECRET_ENV} is not set: platform webhooks must be signed",
                retryable=False,
            )
        payload = webhook_payload(task)
        if task.type == "disable_account":
            account = task.context.get("uploader")
            if not account:
                return ExecutionOutcome.failed(
                    f"content {task.content_id} has no uploader: no account to disable",
                    retryable=False,
                )
            payload["account"] = account
        elif task.type == "review_group":
            group = task.context.get("group_id")
            if not group:
                return ExecutionOutcome.failed(
                    f"content {task.content_id} has no group: no group to review",
                    retryable=False,
                )
            payload["group"] = group
        return self._deliver(task, url, secret, f"action.{task.type}", payload)

    def webhook(self, task: ActionTask) -> ExecutionOutcome:
        url = str(task.params.get("url") or "")
        secret_env = str(task.params.get("secret_env") or "")
        event = str(task.params.get("event") or "match")
        secret = self.config.env.get(secret_env, "") if secret_env else ""
        if not url:
            return ExecutionOutcome.failed("webhook action has no url", retryable=False)
        if not secret:
            return ExecutionOutcome.failed(
                f"environment variable {secret_env or '(none named)'} holding the secret for "
                f"{url} is not set or empty",
                retryable=False,
            )
        return self._deliver(task, url, secret.encode("utf-8"), event, webhook_payload(task))

    def _deliver(
        self, task: ActionTask, url: str, secret: bytes, event: str, payload: dict[str, object]
    ) -> ExecutionOutcome:
        delivery = deliver(
            url,
            secret,
            event,
            payload,
            delivery_id=task.delivery_id,
            timeout=self.config.timeout_s,
            client=self.client,
        )
        self._record(task, url, event, delivery)
        if delivery.ok:
            return ExecutionOutcome.done(
                delivery_id=task.delivery_id, status=delivery.status, url=url, event=event
            )
        return ExecutionOutcome.failed(
            f"{event} to {url}: {delivery.error}", retryable=delivery.retryable
        )

    def _record(self, task: ActionTask, url: str, event: str, delivery: DeliveryResult) -> None:
        with self.db.session() as session:
            _add_delivery(session, task, url, event, delivery)


def _add_delivery(
    session: Session, task: ActionTask, url: str, event: str, delivery: DeliveryResult
) -> None:
    session.add(
        WebhookDelivery(
            action_id=task.id,
            url=url[:2048],
            event=event,
            delivery_id=task.delivery_id,
            attempt=task.attempt,
            ok=delivery.ok,
            status_code=delivery.status,
            error=delivery.error,
            duration_ms=delivery.duration_ms,
        )
    )


def default_executors(
    db: Database,
    config: ExecutorConfig | None = None,
    *,
    client: httpx.Client | None = None,
) -> dict[str, Executor]:
    """The built-in executor for every action type."""
    return ActionExecutors(db, config, client=client).mapping()

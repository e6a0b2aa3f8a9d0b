"""The outbox worker: claims due actions, runs their executors, records the outcome.

It runs inside ``jaga serve`` as a thread by default (:meth:`Worker.start_thread`), or as its
own process (``jaga worker``); any number may run against one database. Each action goes
through three short transactions -- claim, (the executor's own writes), finish -- and no
transaction is open while an executor waits on the network.

If a worker dies mid-action, the action's lease runs out and another worker (or the same one
restarted) runs it again; executors are idempotent and webhooks carry a stable delivery id, so
that second run has the effect of one. Each finished attempt is audited (actor ``worker``).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from jaga.actions.executors import ExecutionOutcome, Executor
from jaga.actions.outbox import (
    DEFAULT_BACKOFF_BASE_S,
    WORKER_ACTOR,
    ActionTask,
    RetryPolicy,
    claim,
    complete,
    env_float,
    env_int,
    fail,
    has_due,
    release,
    renew,
)
from jaga.errors import InvalidInput, JagaError
from jaga.store.db import Database

log = logging.getLogger(__name__)

ENV_PREFIX: Final = "JAGA_WORKER_"


@dataclass(frozen=True)
class WorkerSettings:
    """Tuning, from ``JAGA_WORKER_BATCH``, ``_LEASE_S``, ``_POLL_S``, ``_MAX_ATTEMPTS``,
    ``_BACKOFF_BASE_S`` and ``_BACKOFF_CAP_S``."""

    batch: int = 20
    lease_s: float = 60.0
    poll_s: float = 0.5
    max_attempts: int = 8
    backoff_base_s: float = DEFAULT_BACKOFF_BASE_S
    backoff_cap_s: float = 3600.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WorkerSettings:
        env = os.environ if env is None else env
        return cls(
            batch=env_int(env, ENV_PREFIX + "BATCH", 20),
            lease_s=env_float(env, ENV_PREFIX + "LEASE_S", 60.0),
            poll_s=env_float(env, ENV_PREFIX + "POLL_S", 0.5),
            max_attempts=env_int(env, ENV_PREFIX + "MAX_ATTEMPTS", 8),
            backoff_base_s=env_float(env, ENV_PREFIX + "BACKOFF_BASE_S", DEFAULT_BACKOFF_BASE_S),
            backoff_cap_s=env_float(env, ENV_PREFIX + "BACKOFF_CAP_S", 3600.0),
        )


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"


class Worker:
    """Runs outbox actions with ``executors`` (action type -> executor)."""

    def __init__(
        self,
        db: Database,
        executors: Mapping[str, Executor],
        *,
        worker_id: str | None = None,
        batch: int = 20,
        lease_s: float = 60.0,
        poll_s: float = 0.5,
        max_attempts: int = 8,
        backoff_base_s: float = DEFAULT_BACKOFF_BASE_S,
        backoff_cap_s: float = 3600.0,
    ) -> None:
        if batch < 1:
            raise InvalidInput(f"worker batch must be >= 1, got {batch}")
        if not lease_s > 0 or poll_s < 0:
            raise InvalidInput("worker lease must be > 0 s and poll interval >= 0 s")
        self.db = db
        self.executors = dict(executors)
        self.worker_id = worker_id or default_worker_id()
        self.batch = batch
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.policy = RetryPolicy(max_attempts, backoff_base_s, backoff_cap_s)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_settings(
        cls,
        db: Database,
        executors: Mapping[str, Executor],
        settings: WorkerSettings,
        *,
        worker_id: str | None = None,
    ) -> Worker:
        return cls(
            db,
            executors,
            worker_id=worker_id,
            batch=settings.batch,
            lease_s=settings.lease_s,
            poll_s=settings.poll_s,
            max_attempts=settings.max_attempts,
            backoff_base_s=settings.backoff_base_s,
            backoff_cap_s=settings.backoff_cap_s,
        )

    def __repr__(self) -> str:
        return f"Worker({self.worker_id!r}, batch={self.batch}, lease_s={self.lease_s})"

    # ---------------------------------------------------------------------------- one batch

    def run_once(self) -> int:
        """Claim one batch of due actions and run them; returns how many were claimed."""
        with self.db.session() as session:
            if not has_due(session):
                return 0  # polled without taking SQLite's write lock
        with self.db.session(immediate=True) as session:
            tasks = claim(
                session,
                worker_id=self.worker_id,
                limit=self.batch,
                lease_s=self.lease_s,
                max_attempts=self.policy.max_attempts,
            )
        claimed_at = time.monotonic()
        for index, task in enumerate(tasks):
            if self._stop.is_set():
                self._release(tasks[index:])
                break
            if time.monotonic() - claimed_at > self.lease_s / 2:
                # Later tasks of a slow batch: extend the lease rather than let another worker
                # start the same action while this one is about to.
                with self.db.session(immediate=True) as session:
                    still_ours = renew(session, task.id, attempt=task.attempt, lease_s=self.lease_s)
                if not still_ours:
                    continue
            self.run_task(task)
        return len(tasks)

    def run_task(self, task: ActionTask) -> ExecutionOutcome:
        """Run one claimed action and record its outcome (audited)."""
        outcome = self._execute(task)
        with self.db.session(immediate=True) as session:
            if outcome.ok:
                finished = complete(
                    session,
                    task.id,
                    result=outcome.result,
                    attempt=task.attempt,
                    actor=WORKER_ACTOR,
                )
                status = "done" if finished else None
            else:
                status = fail(
                    session,
                    task.id,
                    error=outcome.error or "failed",
                    retryable=outcome.retryable,
                    attempt=task.attempt,
                    policy=self.policy,
                    actor=WORKER_ACTOR,
                )
        if status is None:
            log.warning("action %s: lease lost before its outcome was recorded", task.id)
        elif outcome.ok:
            log.info("action %s (%s) done", task.id, task.type)
        else:
            log.warning("action %s (%s) %s: %s", task.id, task.type, status, outcome.error)
        return outcome

    def _execute(self, task: ActionTask) -> ExecutionOutcome:
        executor = self.executors.get(task.type)
        if executor is None:
            return ExecutionOutcome.failed(
                f"no executor for action type {task.type!r}", retryable=False
            )
        try:
            return executor(task)
        except JagaError as error:  # bad configuration or input: retrying will not fix it
            return ExecutionOutcome.failed(str(error), retryable=False)
        except Exception as error:  # a bug or a transient failure (database away): retry
            log.exception("action %s (%s) raised", task.id, task.type)
            return ExecutionOutcome.failed(f"{type(error).__name__}: {error}", retryable=True)

    def _release(self, tasks: list[ActionTask]) -> None:
        with self.db.session(immediate=True) as session:
            for task in tasks:
                release(session, task.id, attempt=task.attempt)

    # ------------------------------------------------------------------------------ looping

    def drain(self) -> int:
        """Run batches until nothing is due now; returns how many actions were claimed."""
        total = 0
        while not self._stop.is_set():
            claimed = self.run_once()
            if not claimed:
                break
            total += claimed
        return total

    def run_forever(self, stop: threading.Event | None = None) -> None:
        """Run until ``stop`` (or :meth:`stop`) is set; survives a database that goes away."""
        stop = stop or self._stop
        log.info("outbox worker %s started", self.worker_id)
        while not stop.is_set() and not self._stop.is_set():
            try:
                claimed = self.run_once()
            except Exception:
                log.exception("outbox worker %s: batch failed; retrying", self.worker_id)
                claimed = 0
            if not claimed:
                stop.wait(self.poll_s)
        log.info("outbox worker %s stopped", self.worker_id)

    def start_thread(self) -> threading.Thread:
        """Run in a daemon thread of this process (the default inside ``jaga serve``)."""
        if self._thread is not None and self._thread.is_alive():
            return self._thread
        self._stop.clear()
        thread = threading.Thread(
            target=self.run_forever, name=f"jaga-worker-{self.worker_id}", daemon=True
        )
        thread.start()
        self._thread = thread
        return thread

    def stop(self, timeout: float | None = 30.0) -> None:
        """Ask the loop to stop after the action in hand, and wait for its thread if any."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

"""The crash test: a `jaga worker` process is killed (SIGKILL) in the middle of a webhook
delivery; after a restart every action is carried out, each receiver-side effect happened once,
and every action row ends done exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from jaga.actions.outbox import ActionTask, list_actions
from jaga.store import Database
from jaga.store.audit import list_events, verify
from jaga.store.models import ActionRow, ReviewCase

SECRET = "whsec-receiver-secret-0123456789"
CONTENTS = 6


def _start_worker(db_url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "JAGA_DATABASE_URL": db_url,
        "HOOK_SECRET": SECRET,
        "JAGA_WORKER_BATCH": "2",
        "JAGA_WORKER_LEASE_S": "1",
        "JAGA_WORKER_POLL_S": "0.05",
        "JAGA_WORKER_BACKOFF_BASE_S": "0.01",
        "JAGA_WORKER_BACKOFF_CAP_S": "0.05",
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "jaga.commands.worker"], env=env, stdout=out, stderr=out
        )


def _statuses(database: Database) -> Counter[str]:
    with database.session() as session:
        return Counter(a.status for a in list_actions(session, limit=1000))


def _wait_until_all_done(database: Database, worker: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120  # a generous bound against a hang, not a timing assertion
    while time.monotonic() < deadline:
        statuses = _statuses(database)
        if set(statuses) == {"done"}:
            return
        assert worker.poll() is None, f"worker exited early:\n{log.read_text()}"
        time.sleep(0.05)
    raise AssertionError(f"actions not done: {_statuses(database)}\n{log.read_text()}")


def _delivery_ids(database: Database, ids: list[int]) -> set[str]:
    with database.session() as session:
        rows = session.execute(
            select(ActionRow.id, ActionRow.idempotency_key).where(ActionRow.id.in_(ids))
        ).all()
    assert len(rows) == len(ids)
    return {ActionTask(i, 0, "", "", "", {}, {}, 0, key, "").delivery_id for i, key in rows}


def test_killed_worker_loses_nothing_and_repeats_no_effect(
    database: Database,
    db_url: str,
    add_content: Callable[..., tuple[int, list[int]]],
    hook: Callable[..., Any],
    plan: Callable[..., Any],
    receiver: Any,
    tmp_path: Path,
) -> None:
    webhook_ids: list[int] = []
    all_ids: list[int] = []
    for i in range(CONTENTS):
        _, (hook_id, review_id) = add_content(
            database, [hook(receiver.url), plan("review")], external_id=f"upload-{i}"
        )
        webhook_ids.append(hook_id)
        all_ids += [hook_id, review_id]
    # The third delivery is processed by the receiver, which then hangs before answering:
    # the worker is killed while it waits, so the effect happened but was never acknowledged.
    receiver.hold_first = 3
    log = tmp_path / "worker.log"

    first = _start_worker(db_url, log)
    try:
        assert receiver.reached.wait(120), log.read_text()
    finally:
        first.kill()  # SIGKILL: no cleanup, no chance to release leases
        first.wait(30)
    assert first.returncode == -signal.SIGKILL
    mid_way = _statuses(database)
    assert mid_way["running"] >= 1  # the hung delivery's lease is still held by the dead worker
    assert mid_way["pending"] >= 1
    assert mid_way["done"] < len(all_ids)

    receiver.release.set()
    second = _start_worker(db_url, log)
    try:
        _wait_until_all_done(database, second, log)
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0, log.read_text()

    expected = _delivery_ids(database, webhook_ids)
    assert set(receiver.effects) == expected
    assert set(receiver.effects.values()) == {1}  # each effect once
    assert max(receiver.seen.values()) == 2  # the interrupted delivery was sent again, same id
    assert receiver.bad_signatures == 0

    with database.session() as session:
        done_events = Counter(
            e.target for e in list_events(session, action="action.done", limit=1000)
        )
        assert done_events == Counter(f"action:{i}" for i in all_ids)  # done exactly once each
        assert verify(session).ok
        cases = session.scalars(select(ReviewCase.content_id)).all()
    assert len(cases) == len(set(cases)) == CONTENTS

"""The change feed: commit-ordered sequence numbers, serialized writers, pruning."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from jaga.store import Database
from jaga.store import repo_changes as feed
from jaga.store.types import utcnow


def test_second_writer_waits_for_the_first_to_commit(database: Database) -> None:
    # Sequence numbers are handed out in commit order only if feed writers cannot overlap.
    with database.session() as first:
        feed.append_bank_change(first, "update", 1)
        with database.session() as second:
            if database.dialect == "postgresql":
                second.execute(text("SET LOCAL lock_timeout = '200ms'"))
            else:
                second.execute(text("PRAGMA busy_timeout = 200"))
            with pytest.raises(OperationalError):
                feed.append_bank_change(second, "update", 2)
            second.rollback()
    with database.session() as third:
        feed.append_bank_change(third, "update", 3)
    with database.session() as reader:
        assert [c.bank_id for c in feed.changes_since(reader, 0)] == [1, 3]


def test_prune_and_oldest(database: Database) -> None:
    with database.session() as session:
        feed.append_entry_changes(session, "add", [(10, 1, "pdq"), (11, 1, "md5")])
        feed.append_bank_change(session, "remove", 1)
    with database.session() as session:
        changes = feed.changes_since(session, 0)
        assert [(c.op, c.entry_id, c.signal_type) for c in changes] == [
            ("add", 10, "pdq"),
            ("add", 11, "md5"),
            ("remove", None, None),
        ]
        assert [c.is_bank_change for c in changes] == [False, False, True]
        assert feed.latest_seq(session) == changes[-1].seq
        assert feed.oldest_seq(session) == changes[0].seq
        assert feed.prune_changes(session, before=utcnow() - timedelta(days=1)) == 0
        assert feed.prune_changes(session, before=utcnow() + timedelta(seconds=1)) == 3
        assert feed.oldest_seq(session) == 0
    with database.session() as session:
        feed.append_bank_change(session, "add", 2)
    with database.session() as session:
        # Pruned numbers are never handed out again.
        assert feed.changes_since(session, 0)[0].seq > changes[-1].seq

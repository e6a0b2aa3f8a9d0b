"""Server housekeeping: expired disables released, the change feed pruned past its retention,
and a matcher opened after pruning still holds every entry (it reloads from the store)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from jaga.api.config import load_config
from jaga.api.context import ServiceContext
from jaga.banks import service
from jaga.matching.live import LiveMatcher
from jaga.signals.base import Signal
from jaga.store.repo_changes import changes_since
from jaga.store.types import utcnow


def _pdq(seed: int) -> bytes:
    return bytes((seed * 37 + i * 11) % 256 for i in range(32))


def _context(tmp_path: Path, **env: str) -> ServiceContext:
    return ServiceContext(load_config(env={"JAGA_HOME": str(tmp_path), **env}))


def test_feed_rows_older_than_the_retention_are_pruned_and_entries_survive(
    tmp_path: Path,
) -> None:
    context = _context(tmp_path)
    try:
        assert context.config.change_retention_days == 7.0
        start = utcnow()
        with context.db.session() as session:
            service.create_bank(session, "known")
            ids = [service.add_entry(session, "known", "pdq", _pdq(n)).id for n in range(5)]
        with context.db.session() as session:
            rows = len(changes_since(session, 0))
        assert rows >= 5

        assert context.housekeeping(now=start + timedelta(days=6)) == (0, 0)
        assert context.housekeeping(now=start + timedelta(days=8)) == (0, rows)
        with context.db.session() as session:
            assert changes_since(session, 0) == []

        fresh = LiveMatcher(context.db, index_dir=tmp_path / "other-index").open()
        hits = fresh.match([Signal("pdq", _pdq(3), quality=100)]).matches
        assert [m.entry_id for m in hits] == [ids[3]]
    finally:
        context.db.close()


def test_expired_disables_are_released_by_housekeeping(tmp_path: Path) -> None:
    context = _context(tmp_path)
    try:
        start = utcnow()
        with context.db.session() as session:
            service.create_bank(session, "known")
            entry = service.add_entry(session, "known", "pdq", _pdq(1)).id
            service.disable_entry(session, entry, until=start + timedelta(hours=1))
        assert context.housekeeping(now=start + timedelta(minutes=30))[0] == 0
        assert context.housekeeping(now=start + timedelta(hours=2))[0] == 1
        assert context.housekeeping(now=start + timedelta(hours=3))[0] == 0
    finally:
        context.db.close()


def test_a_retention_of_zero_keeps_the_whole_feed(tmp_path: Path) -> None:
    context = _context(tmp_path, JAGA_CHANGE_RETENTION_DAYS="0")
    try:
        with context.db.session() as session:
            service.create_bank(session, "known")
            service.add_entry(session, "known", "pdq", _pdq(2))
        assert context.housekeeping(now=utcnow() + timedelta(days=3650)) == (0, 0)
        with context.db.session() as session:
            assert changes_since(session, 0) != []
    finally:
        context.db.close()


def test_a_malformed_retention_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    from jaga.api.config import ConfigError

    with pytest.raises(ConfigError, match="change_retention_days"):
        load_config(env={"JAGA_HOME": str(tmp_path), "JAGA_CHANGE_RETENTION_DAYS": "a week"})

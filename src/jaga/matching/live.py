"""The matcher a process keeps running: indexes built from the store, kept current by the feed.

A process (a CLI run, each server worker) opens the saved snapshot of the indexes if there is a
usable one (memory-mapped: fast even at millions of entries), otherwise builds them from the
store, then applies the entry change feed from the snapshot's position on. ``sync()`` applies
whatever other processes changed since; a server calls it every second or so, so several
processes converge within seconds without ever reloading everything.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from jaga.banks.service import list_banks
from jaga.banks.sync import (
    Change,
    changes_since,
    latest_change_seq,
    oldest_change_seq,
)
from jaga.matching.bank_index import BankIndexSet, IndexStateError
from jaga.matching.loading import EntryGroup, VariantGroup, active_groups, load_entries
from jaga.matching.matcher import Matcher, MatchPolicy
from jaga.matching.rwlock import ReadWriteLock
from jaga.matching.types import BankInfo, MatchOutcome
from jaga.signals.base import Signal
from jaga.signals.registry import signal_type_names
from jaga.store.db import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MatcherStatus:
    seq: int
    entries: int
    memory_bytes: int
    banks: int
    last_sync: float  # time.time() of the last successful sync
    built_from: str  # "snapshot" or "store"
    load_seconds: float
    #: Variant rows in the indexes (``entries`` counts entries only).
    variant_rows: int = 0


def feed_mark(session: Session, seq: int) -> str | None:
    """What identifies feed position ``seq`` of this store: its number and commit time.

    A snapshot records the mark of its position; on opening, the store must hold the same row.
    A number alone is not enough: a new or restored database reaches the same numbers with other
    contents (and SQLite ids restart at 1), so a leftover snapshot would be taken for current
    and the changes it lacks never applied. None if the row is not in the feed (position 0,
    a pruned row, another store).
    """
    if seq <= 0:
        return None
    rows = changes_since(session, seq - 1, limit=1)
    if not rows or rows[0].seq != seq:
        return None
    return f"{seq}@{rows[0].at.isoformat()}"


def load_banks(session: Session) -> dict[int, BankInfo]:
    return {
        bank.id: BankInfo(bank.id, bank.name, bank.kind, dict(bank.thresholds or {}), bank.enabled)
        for bank in list_banks(session)
    }


@dataclass
class _SyncPlan:
    """What one batch of feed rows does to the in-memory indexes, read before locking."""

    banks: dict[int, BankInfo] | None
    drop: list[int] = field(default_factory=list)
    reload: dict[int, BankIndexSet] = field(default_factory=dict)
    remove: list[tuple[int, int, str | None]] = field(default_factory=list)
    add: list[EntryGroup] = field(default_factory=list)
    #: Variant rows to add back: (bank, type, ids, values, parent ids, variant names).
    add_variants: list[VariantGroup] = field(default_factory=list)


class LiveMatcher:
    """Thread-safe matching against the store's banks, kept in sync by the change feed."""

    def __init__(
        self,
        db: Database,
        *,
        index_dir: str | Path | None = None,
        policy: MatchPolicy | None = None,
        signal_types: Collection[str] | None = None,
    ) -> None:
        self.db = db
        self.index_dir = Path(index_dir) if index_dir is not None else None
        self.policy = policy or MatchPolicy()
        self.signal_types = tuple(signal_types or signal_type_names())
        self._lock = ReadWriteLock()
        self._sync_mutex = threading.Lock()
        self._indexes = BankIndexSet()
        self._banks: dict[int, BankInfo] = {}
        self._seq = 0
        self._saved_seq = -1
        self._last_sync = 0.0
        self._built_from = ""
        self._load_seconds = 0.0

    # -- life cycle -------------------------------------------------------------------------

    def open(self) -> LiveMatcher:
        """Load from the snapshot if usable, else build from the store; then catch up."""
        started = time.perf_counter()
        with self._sync_mutex, self._lock.write():
            if not self._load_snapshot():
                self._build_from_store()
        self.sync()
        self._load_seconds = time.perf_counter() - started
        return self

    def _load_snapshot(self) -> bool:
        if self.index_dir is None:
            return False
        try:
            indexes, seq = BankIndexSet.load(self.index_dir)
        except IndexStateError as error:
            if (self.index_dir / "manifest.json").exists():
                log.warning("rebuilding indexes from the store: %s", error)
            return False
        with self.db.session() as session:
            if seq < oldest_change_seq(session) - 1:
                log.warning("index snapshot is older than the change feed; rebuilding")
                return False
            mark = feed_mark(session, seq)
            if mark is None or self._origin(mark) != indexes.origin:
                log.warning(
                    "index snapshot does not match this store's change feed or signal types; "
                    "rebuilding"
                )
                return False
            self._banks = load_banks(session)
        self._indexes, self._seq, self._saved_seq = indexes, seq, seq
        self._built_from = "snapshot"
        return True

    def _origin(self, mark: str) -> str:
        """A snapshot's origin: the feed row it reflects and the signal types it holds (a
        matcher of other types would otherwise keep indexes it never updates, or lack some)."""
        return f"{mark} {','.join(sorted(self.signal_types))}"

    def _build_from_store(self) -> None:
        with self.db.session() as session:
            self._indexes, self._banks, self._seq = self._load_all(session)
        self._built_from = "store"

    def _load_all(self, session: Session) -> tuple[BankIndexSet, dict[int, BankInfo], int]:
        # Read the feed position first: changes committed while we load are replayed
        # afterwards (replaying an already-loaded change is harmless).
        seq = latest_change_seq(session)
        banks = load_banks(session)
        indexes = BankIndexSet()
        load_entries(session, indexes, self.signal_types)
        return indexes, banks, seq

    def checkpoint(self, *, force: bool = False) -> bool:
        """Save a snapshot if anything changed since the last one; returns whether it saved.

        Not saved at a position the feed does not hold (nothing ever changed, or the feed was
        pruned past it): :meth:`open` could not tell such a snapshot from another store's.
        """
        if self.index_dir is None:
            return False
        # The sync mutex holds the position still while its feed row is looked up and saved.
        with self._sync_mutex:
            if not force and self._saved_seq == self._seq:
                return False
            with self.db.session() as session:
                mark = feed_mark(session, self._seq)
            if mark is None:
                # No feed row to vouch for this position (an empty or pruned feed): a snapshot
                # could not be told from another store's, so it would never be opened.
                return False
            with self._lock.read():
                self._indexes.save(self.index_dir, seq=self._seq, origin=self._origin(mark))
            self._saved_seq = self._seq
        return True

    # -- keeping current --------------------------------------------------------------------

    def sync(self) -> int:
        """Apply changes made since the last sync (by any process); returns how many.

        Everything that reads the store happens before the write lock is taken, so queries only
        wait for the swap, never for a bank being reloaded.
        """
        applied = 0
        with self._sync_mutex:
            with self.db.session() as session:
                # Behind a pruned feed, or ahead of the feed (all of it pruned, or the database
                # restored from a backup): what was missed cannot be replayed; reload.
                if self._seq < oldest_change_seq(session) - 1 or (
                    latest_change_seq(session) < self._seq
                ):
                    indexes, banks, seq = self._load_all(session)
                    with self._lock.write():
                        self._indexes, self._banks, self._seq = indexes, banks, seq
                    self._last_sync = time.time()
                    return 0
                while True:
                    changes = changes_since(session, self._seq)
                    if not changes:
                        break
                    plan = self._prepare(session, changes)
                    with self._lock.write():
                        self._commit(plan)
                        self._seq = changes[-1].seq
                    applied += len(changes)
            self._last_sync = time.time()
        return applied

    def _prepare(self, session: Session, changes: Sequence[Change]) -> _SyncPlan:
        """Read from the store what a batch of changes needs (no lock held)."""
        plan = _SyncPlan(banks=None)
        bank_ops: dict[int, set[str]] = defaultdict(set)
        for change in changes:
            if change.is_bank_change:
                bank_ops[change.bank_id].add(change.op)
        if bank_ops:
            plan.banks = load_banks(session)
            for bank_id, ops in bank_ops.items():
                before, after = self._banks.get(bank_id), plan.banks.get(bank_id)
                if after is None or not after.enabled:
                    plan.drop.append(bank_id)
                elif "add" in ops or before is None or not before.enabled:
                    # "add" on a whole bank: created, or a bulk import too big to list entry by
                    # entry. An "update" alone changed settings (thresholds): nothing to load.
                    fresh = BankIndexSet()
                    load_entries(session, fresh, self.signal_types, bank_id=bank_id)
                    plan.reload[bank_id] = fresh
        touched: set[int] = set()
        for change in changes:
            if change.is_bank_change or change.entry_id is None:
                continue
            if change.signal_type is not None and change.signal_type not in self.signal_types:
                continue
            plan.remove.append((change.bank_id, change.entry_id, change.signal_type))
            if change.op != "remove":
                touched.add(change.entry_id)
        if touched:
            plan.add, plan.add_variants = active_groups(
                session, sorted(touched), set(self.signal_types)
            )
        return plan

    def _commit(self, plan: _SyncPlan) -> None:
        """Apply a prepared plan (write lock held): only in-memory work."""
        for bank_id in plan.drop:
            self._indexes.drop_bank(bank_id)
        for bank_id, fresh in plan.reload.items():
            self._indexes.replace_bank(bank_id, fresh)
        for bank_id, entry_id, signal_type in plan.remove:
            self._indexes.remove(bank_id, [entry_id], signal_type)
        for bank_id, signal_type, ids, values in plan.add:
            self._indexes.add(bank_id, signal_type, ids, values)
        for bank_id, signal_type, ids, rows, parents, names in plan.add_variants:
            self._indexes.add_variants(bank_id, signal_type, ids, rows, parents, names)
        if plan.banks is not None:
            self._banks = plan.banks

    # -- matching ---------------------------------------------------------------------------

    def match(
        self, signals: Sequence[Signal], *, bank_ids: Collection[int] | None = None
    ) -> MatchOutcome:
        with self._lock.read():
            return Matcher(self._banks, self._indexes, self.policy).match(
                signals, bank_ids=bank_ids
            )

    def banks(self) -> dict[int, BankInfo]:
        with self._lock.read():
            return dict(self._banks)

    def status(self) -> MatcherStatus:
        with self._lock.read():
            return MatcherStatus(
                seq=self._seq,
                entries=self._indexes.total_entries(),
                memory_bytes=self._indexes.memory_bytes(),
                banks=len(self._banks),
                last_sync=self._last_sync,
                built_from=self._built_from,
                load_seconds=self._load_seconds,
                variant_rows=self._indexes.total_variants(),
            )

    def entry_counts(self) -> dict[tuple[int, str], int]:
        """Entries per (bank, signal type) in the indexes, not counting variant rows."""
        with self._lock.read():
            return {key: self._indexes.entry_count(*key) for key in self._indexes.keys()}  # noqa: SIM118

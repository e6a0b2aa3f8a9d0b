"""Everything one server process holds: the store, the live matcher, limits, background jobs.

Created by the app's lifespan, reached from routes through ``request.app.state.jaga``. Background
threads: a sync loop applying other processes' bank changes every ``sync_interval_s`` (and
releasing expired entry disables), a checkpoint of the index snapshot every
``checkpoint_interval_s`` and at shutdown, and, unless ``jaga worker`` runs separately, the
actions outbox worker.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from jaga.api.config import ServiceConfig
from jaga.api.rate_limit import RateLimiter
from jaga.api.url_fetch import FetchPolicy
from jaga.banks.sync import release_expired_disables
from jaga.matching.live import LiveMatcher
from jaga.matching.matcher import MatchPolicy
from jaga.media import DEFAULT_LIMITS
from jaga.signals.hashing import HashOptions
from jaga.store.db import Database, open_database
from jaga.store.repo_changes import prune_changes
from jaga.store.types import utcnow

log = logging.getLogger(__name__)

#: How often each server process runs :meth:`ServiceContext.housekeeping`.
_HOUSEKEEPING_EVERY_S = 60.0


@dataclass
class AuthCache:
    """Recently authenticated keys, so the hot path does not hit the database per request."""

    ttl_s: float
    _entries: dict[str, tuple[float, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, token_digest: str) -> Any | None:
        with self._lock:
            hit = self._entries.get(token_digest)
            if hit is None or hit[0] < time.monotonic():
                return None
            return hit[1]

    def put(self, token_digest: str, principal: Any) -> None:
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[token_digest] = (time.monotonic() + self.ttl_s, principal)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class ServiceContext:
    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.db: Database = open_database(config.database_url)
        self.matcher = LiveMatcher(
            self.db,
            index_dir=config.index_dir,
            policy=MatchPolicy(min_quality=config.min_quality),
        )
        self.hash_options = HashOptions(
            exact=config.exact_hashing,
            dihedral=config.dihedral,
            variants=config.match_variants,
            limits=DEFAULT_LIMITS,
        )
        self.fetch_policy = FetchPolicy(
            max_bytes=config.max_upload_bytes, allow_networks=config.fetch_allow_networks
        )
        self.limiter = RateLimiter(config.rate_limit_per_s, config.rate_limit_burst)
        self.key_limiters: dict[float, RateLimiter] = {}
        self.auth_cache = AuthCache(config.auth_cache_s)
        self.rules: Any = None  # jaga.actions.rules.RuleSet, loaded in start()
        self.worker: Any = None  # jaga.actions.worker.Worker when in process
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def limiter_for(self, rate_per_s: float | None) -> RateLimiter:
        """The shared limiter, or one per distinct per-key rate."""
        if rate_per_s is None:
            return self.limiter
        limiter = self.key_limiters.get(rate_per_s)
        if limiter is None:
            burst = max(1, int(rate_per_s * 2))
            limiter = self.key_limiters[rate_per_s] = RateLimiter(rate_per_s, burst)
        return limiter

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> None:
        from jaga.actions.rules import RuleSet

        self.rules = (
            RuleSet.load(self.config.rules_path)
            if self.config.rules_path is not None
            else RuleSet.default()
        )
        self.matcher.open()
        self._spawn("jaga-sync", self._sync_loop)
        if self.config.in_process_worker:
            from jaga.actions.executors import default_executors
            from jaga.actions.worker import Worker, WorkerSettings

            self.worker = Worker.from_settings(
                self.db, default_executors(self.db), WorkerSettings.from_env()
            )
            self._threads.append(self.worker.start_thread())

    def stop(self) -> None:
        self._stop.set()
        if self.worker is not None:
            self.worker.stop()
        for thread in self._threads:
            thread.join(timeout=10)
        try:
            self.matcher.checkpoint()
        except Exception:  # a failed snapshot only slows the next start
            log.exception("could not save the index snapshot")
        self.db.close()

    def _spawn(self, name: str, target: Any) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def housekeeping(self, now: datetime | None = None) -> tuple[int, int]:
        """Periodic upkeep of the store, safe to run from every process at once: entries whose
        ``disabled_until`` has passed are released (and announced on the change feed), and
        feed rows older than ``change_retention_days`` are deleted so the feed does not grow
        forever. A process or snapshot further behind than that reloads from the store.
        Returns (entries released, feed rows pruned)."""
        moment = now or utcnow()
        with self.db.session() as session:
            released = release_expired_disables(session, now=moment)
            pruned = 0
            if self.config.change_retention_days > 0:
                horizon = moment - timedelta(days=self.config.change_retention_days)
                pruned = prune_changes(session, before=horizon)
        return released, pruned

    def _sync_loop(self) -> None:
        last_housekeeping = 0.0
        last_checkpoint = time.monotonic()
        while not self._stop.wait(self.config.sync_interval_s):
            try:
                now = time.monotonic()
                if now - last_housekeeping >= _HOUSEKEEPING_EVERY_S:
                    self.housekeeping()
                    last_housekeeping = now
                self.matcher.sync()
                if now - last_checkpoint >= self.config.checkpoint_interval_s:
                    self.matcher.checkpoint()
                    last_checkpoint = now
            except Exception:  # keep serving with a slightly stale index; log loudly
                log.exception("index sync failed")

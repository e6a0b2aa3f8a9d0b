"""Per-key token buckets for the HTTP API: each API key may burst, then goes at a steady rate.

Example::

    limiter = RateLimiter(rate_per_s=50, burst=100)
    decision = limiter.check(api_key_id)
    if not decision.allowed:
        ...  # 429 with Retry-After: ceil(decision.retry_after_s)

Limits are PER PROCESS: each server process (uvicorn worker) keeps its own buckets in memory,
so N workers let a key through at up to N times the configured rate. That is deliberate -- no
shared store on the hot path, and Jaga runs as one process by default; a deployment with many
workers should divide the configured rate by the worker count or limit at the proxy.

Memory is bounded. A bucket idle long enough to have refilled completely is indistinguishable
from a new one, so it is dropped without changing any decision; buckets are kept in order of
last use, so those are found at the front in O(1) amortised time. If more than ``max_keys``
keys are active at once, the least recently used bucket is dropped even if not yet full, which
can only make the limiter more lenient for that one key, never stricter.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from jaga.errors import InvalidInput


@dataclass(frozen=True)
class RateDecision:
    """``retry_after_s`` is 0 when allowed; otherwise when one token will be available.
    ``remaining`` is the whole tokens left after this request (0 when refused)."""

    allowed: bool
    retry_after_s: float
    remaining: int


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """A thread-safe token bucket per key: ``burst`` tokens, refilled at ``rate_per_s``."""

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_keys: int = 100_000,
    ) -> None:
        if not (rate_per_s > 0 and math.isfinite(rate_per_s)):
            raise InvalidInput(f"rate_per_s must be a positive number, got {rate_per_s}")
        if burst < 1:
            raise InvalidInput(f"burst must be >= 1, got {burst}")
        if max_keys < 1:
            raise InvalidInput(f"max_keys must be >= 1, got {max_keys}")
        self.rate_per_s = float(rate_per_s)
        self.burst = burst
        self.max_keys = max_keys
        self._clock = clock
        self._full_after_s = burst / self.rate_per_s  # an idle bucket is full again after this
        self._buckets: OrderedDict[Hashable, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """How many keys have a bucket in memory (the rest are implicitly full)."""
        with self._lock:
            return len(self._buckets)

    def check(self, key: Hashable) -> RateDecision:
        """Take one token from ``key``'s bucket if there is one; say when to retry if not."""
        with self._lock:
            now = self._clock()
            self._evict_idle(now)
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = _Bucket(tokens=float(self.burst), updated=now)
                self._buckets[key] = bucket
                if len(self._buckets) > self.max_keys:
                    self._buckets.popitem(last=False)
            else:
                elapsed = max(0.0, now - bucket.updated)  # a clock that steps back adds nothing
                bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate_per_s)
                bucket.updated = now
                self._buckets.move_to_end(key)
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return RateDecision(True, 0.0, math.floor(bucket.tokens))
            return RateDecision(False, (1.0 - bucket.tokens) / self.rate_per_s, 0)

    def _evict_idle(self, now: float) -> None:
        # Oldest first: stop at the first bucket that has not been idle long enough.
        while self._buckets:
            key, bucket = next(iter(self._buckets.items()))
            if now - bucket.updated < self._full_after_s:
                return
            del self._buckets[key]

"""Token buckets per API key, driven by a fake clock (no sleeping)."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jaga.api.rate_limit import RateDecision, RateLimiter
from jaga.errors import InvalidInput


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_burst_then_refusal() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_s=2.0, burst=3, clock=clock)
    got = [limiter.check("key-a") for _ in range(4)]
    assert got[:3] == [
        RateDecision(True, 0.0, 2),
        RateDecision(True, 0.0, 1),
        RateDecision(True, 0.0, 0),
    ]
    assert got[3].allowed is False
    assert got[3].remaining == 0
    assert got[3].retry_after_s == pytest.approx(0.5)  # one token at 2 per second


def test_refill_over_time_up_to_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_s=1.0, burst=2, clock=clock)
    assert limiter.check("k").allowed
    assert limiter.check("k").allowed
    assert not limiter.check("k").allowed
    clock.advance(0.4)
    refused = limiter.check("k")
    assert not refused.allowed
    assert refused.retry_after_s == pytest.approx(0.6)
    clock.advance(0.6)
    assert limiter.check("k") == RateDecision(True, 0.0, 0)
    clock.advance(100.0)  # refill is capped at the burst
    assert limiter.check("k").remaining == 1
    assert limiter.check("k").allowed
    assert not limiter.check("k").allowed


def test_refused_requests_do_not_consume_tokens() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_s=1.0, burst=1, clock=clock)
    assert limiter.check("k").allowed
    for _ in range(5):
        assert not limiter.check("k").allowed
    clock.advance(1.0)
    assert limiter.check("k").allowed


def test_keys_are_independent() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_s=1.0, burst=1, clock=clock)
    assert limiter.check("a").allowed
    assert not limiter.check("a").allowed
    assert limiter.check("b").allowed
    assert limiter.check(42).allowed
    assert not limiter.check("b").allowed


def test_idle_buckets_are_evicted_without_changing_decisions() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_s=10.0, burst=5, clock=clock)  # full again after 0.5 s
    for i in range(100):
        limiter.check(f"idle-{i}")
    limiter.check("busy")
    limiter.check("busy")
    assert len(limiter) == 101
    clock.advance(0.4)
    limiter.check("busy")
    assert len(limiter) == 101  # not idle long enough yet
    clock.advance(0.1)
    limiter.check("busy")
    assert len(limiter) == 1  # only "busy" was touched within the last 0.5 s
    # A key whose bucket was dropped gets exactly what a kept, refilled bucket would give.
    assert limiter.check("idle-7") == RateDecision(True, 0.0, 4)


def test_memory_is_capped_by_dropping_least_recently_used() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_s=1.0, burst=1, clock=clock, max_keys=3)
    for key in ("a", "b", "c"):
        assert limiter.check(key).allowed
    assert not limiter.check("a").allowed  # "a" becomes most recently used
    assert limiter.check("d").allowed  # evicts "b", the least recently used
    assert len(limiter) == 3
    assert not limiter.check("a").allowed  # kept, still empty
    assert not limiter.check("c").allowed  # kept, still empty
    assert limiter.check("b").allowed  # forgotten: starts full again (lenient, never stricter)


def test_clock_stepping_back_adds_no_tokens() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_s=1.0, burst=1, clock=clock)
    assert limiter.check("k").allowed
    clock.advance(-50.0)
    assert not limiter.check("k").allowed


def test_thread_safety_never_allows_more_than_burst() -> None:
    clock = FakeClock()  # frozen: no refill while the threads race
    limiter = RateLimiter(rate_per_s=1.0, burst=50, clock=clock)
    allowed: list[bool] = []
    lock = threading.Lock()

    def hammer() -> None:
        mine = [limiter.check("shared").allowed for _ in range(100)]
        with lock:
            allowed.extend(mine)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(allowed) == 50
    assert len(allowed) == 800


@given(
    rate=st.floats(min_value=0.01, max_value=1000.0),
    burst=st.integers(min_value=1, max_value=50),
    steps=st.lists(st.floats(min_value=0.0, max_value=5.0), max_size=60),
)
def test_allowed_never_exceeds_burst_plus_refill(
    rate: float, burst: int, steps: list[float]
) -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_s=rate, burst=burst, clock=clock, max_keys=1)
    start = clock.now
    allowed = 0
    for step in steps:
        clock.advance(step)
        decision = limiter.check("k")
        allowed += decision.allowed
        assert 0 <= decision.remaining < burst
        assert decision.retry_after_s >= 0.0
        assert decision.allowed == (decision.retry_after_s == 0.0)
    assert allowed <= burst + (clock.now - start) * rate + 1e-6


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rate_per_s": 0.0, "burst": 1},
        {"rate_per_s": -1.0, "burst": 1},
        {"rate_per_s": float("inf"), "burst": 1},
        {"rate_per_s": float("nan"), "burst": 1},
        {"rate_per_s": 1.0, "burst": 0},
        {"rate_per_s": 1.0, "burst": 1, "max_keys": 0},
    ],
)
def test_bad_settings_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(InvalidInput):
        RateLimiter(**kwargs)  # type: ignore[arg-type]

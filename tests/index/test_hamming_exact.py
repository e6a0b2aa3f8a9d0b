"""Exactness of HammingIndex against brute force, over layouts, radii and the whole life cycle.

Layouts are drawn too (odd widths, unindexed bits, one chunk or many) with probing forced, so the
multi-index search itself, not the scan fallback, is what gets compared with brute force.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from jaga.index import HammingIndex, Tuning

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def layouts(draw: st.DrawFn) -> tuple[int, ...]:
    widths = draw(st.lists(st.integers(1, 16), min_size=1, max_size=24))
    while sum(widths) > 256:
        widths.pop()
    return tuple(widths)


@st.composite
def tunings(draw: st.DrawFn) -> Tuning:
    ratio = draw(st.sampled_from([0.5, 2.0, 4.0]))
    if draw(st.booleans()):
        return Tuning(
            chunk_widths=draw(layouts()), always_probe=True, min_table_rows=0, merge_ratio=ratio
        )
    # The index's own layout choice, made to build tables even for tiny segments.
    return Tuning(
        min_table_rows=0,
        table_bytes_per_row=400.0,
        table_bytes_floor=0,
        always_probe=draw(st.booleans()),
        merge_ratio=ratio,
    )


def _near_radius(radius: int) -> list[int]:
    return [d for d in (radius - 1, radius, radius + 1) if 0 <= d <= 256]


@SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 250),
    radius=st.one_of(st.integers(0, 63), st.sampled_from([64, 90, 128, 200, 256])),
    tuning=tunings(),
    batches=st.integers(1, 4),
)
def test_query_equals_brute_force(
    seed: int,
    n: int,
    radius: int,
    tuning: Tuning,
    batches: int,
    brute: Any,
    flip: Any,
    matches: Any,
) -> None:
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
    if n >= 4:
        rows[1] = rows[0]  # the same hash under different ids
        rows[3] = rows[2]
    queries = rng.integers(0, 256, size=(6, 32), dtype=np.uint8)
    if n:
        queries[:3] = rows[rng.integers(0, n, size=3)]
    # Plant neighbours of every query just inside, on and just outside the radius.
    planted = [flip(q, d, rng) for q in queries for d in _near_radius(radius)]
    all_rows = np.concatenate([rows, np.array(planted, dtype=np.uint8).reshape(-1, 32)])
    ids = rng.permutation(4 * all_rows.shape[0])[: all_rows.shape[0]] * 7919 - 10**12
    index = HammingIndex(tuning=tuning)
    for part in np.array_split(np.arange(all_rows.shape[0]), batches):
        index.add(ids[part], all_rows[part])
    removed = rng.choice(ids, size=all_rows.shape[0] // 4, replace=False) if n else ids[:0]
    assert index.remove(removed) == len(removed)

    model = {int(i): r.tobytes() for i, r in zip(ids, all_rows, strict=True)}
    for i in removed.tolist():
        del model[i]
    expected = brute(model, queries, radius)
    assert matches(index.query(queries, radius)) == expected
    assert matches(index.query(queries, radius, threads=2)) == expected
    assert len(index) == len(model)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), radius=st.integers(0, 63), widths=layouts())
def test_first_chunk_wins_reports_each_match_once(
    seed: int, radius: int, widths: tuple[int, ...], flip: Any
) -> None:
    """A neighbour close on every chunk is found by every table, yet reported once."""
    rng = np.random.default_rng(seed)
    query = rng.integers(0, 256, size=32, dtype=np.uint8)
    near = np.array([flip(query, d, rng) for d in range(0, min(radius, 8) + 1)])
    index = HammingIndex(tuning=Tuning(chunk_widths=widths, always_probe=True, min_table_rows=0))
    index.add(np.arange(near.shape[0]), near)
    result = index.query(query.reshape(1, 32), radius)
    assert sorted(result.ids.tolist()) == list(range(near.shape[0]))


class LifeCycle(RuleBasedStateMachine):
    """Random adds, re-adds, removals, compactions and save/open, checked after every step."""

    added = Bundle("added")

    brute: Any = None  # set by the test below from the session fixtures
    matches: Any = None

    def __init__(self) -> None:
        super().__init__()
        self.model: dict[int, bytes] = {}
        self.tmp = tempfile.TemporaryDirectory()
        self.rng = np.random.default_rng(0)
        self.index = HammingIndex()

    @initialize(tuning=tunings(), seed=st.integers(0, 2**32 - 1))
    def start(self, tuning: Tuning, seed: int) -> None:
        self.index = HammingIndex(tuning=tuning)
        self.rng = np.random.default_rng(seed)

    @rule(
        target=added, ids=st.lists(st.integers(0, 60), min_size=1, max_size=40), near=st.booleans()
    )
    def add(self, ids: list[int], near: bool) -> list[int]:
        rows = self.rng.integers(0, 256, size=(len(ids), 32), dtype=np.uint8)
        if near and self.model:
            base = np.frombuffer(self.model[next(iter(self.model))], dtype=np.uint8)
            for k in range(len(ids)):
                rows[k] = base
                bits = self.rng.choice(256, size=int(self.rng.integers(0, 40)), replace=False)
                for b in bits:
                    rows[k, b // 8] ^= np.uint8(1 << (b % 8))
        self.index.add(np.array(ids, dtype=np.int64), rows)
        for i, r in zip(ids, rows, strict=True):  # the last occurrence of an id wins
            self.model[i] = r.tobytes()
        return ids

    @rule(ids=st.lists(st.integers(0, 70), max_size=20))
    def remove(self, ids: list[int]) -> None:
        present = {i for i in ids if i in self.model}
        assert self.index.remove(ids) == len(present)
        for i in present:
            del self.model[i]

    @rule()
    def compact(self) -> None:
        self.index.compact()
        assert self.index.stats()["segments"] <= 1
        assert self.index.stats()["tombstones"] == 0

    @rule(mmap=st.booleans())
    def save_and_open(self, mmap: bool) -> None:
        path = Path(self.tmp.name) / "index.jgx"
        self.index.save(path)
        self.index = HammingIndex.open(path, mmap=mmap, tuning=self.index.tuning)

    @precondition(lambda self: bool(self.model))
    @rule(radius=st.integers(0, 70), spread=st.integers(0, 72))
    def query_near(self, radius: int, spread: int) -> None:
        keys = sorted(self.model)
        picks = [keys[int(k)] for k in self.rng.integers(0, len(keys), size=4)]
        queries = np.array([np.frombuffer(self.model[k], dtype=np.uint8) for k in picks])
        for q in queries:
            bits = self.rng.choice(256, size=min(spread, 256), replace=False)
            for b in bits[: int(self.rng.integers(0, spread + 1))]:
                q[b // 8] ^= np.uint8(1 << (b % 8))
        assert self.matches(self.index.query(queries, radius)) == self.brute(
            self.model, queries, radius
        )

    @invariant()
    def sizes_agree(self) -> None:
        assert len(self.index) == len(self.model)
        for i in range(0, 71, 7):
            assert (i in self.index) == (i in self.model)

    def teardown(self) -> None:
        self.tmp.cleanup()


def test_life_cycle(brute: Any, matches: Any) -> None:
    class Checked(LifeCycle):
        pass

    Checked.brute = staticmethod(brute)
    Checked.matches = staticmethod(matches)
    run_state_machine_as_test(
        Checked,
        settings=settings(
            max_examples=60,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )

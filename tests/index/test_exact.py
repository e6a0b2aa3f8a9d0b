"""ExactIndex: digest equality with ids, against a plain dict model, through its life cycle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jaga.index import ExactIndex

ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.lists(st.tuples(st.integers(0, 30), st.integers(0, 5)))),
        st.tuples(st.just("remove"), st.lists(st.integers(0, 35), max_size=6)),
        st.tuples(st.just("compact"), st.none()),
        st.tuples(st.just("reopen"), st.booleans()),
    ),
    max_size=14,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(size=st.sampled_from([4, 16, 20, 32]), steps=ops)
def test_matches_a_dict_model(
    size: int, steps: list[tuple[str, object]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Digests come from a tiny alphabet (value v -> bytes of v; values share the 8-byte key when
    # size > 8 only differs late), so equal digests under different ids are common.
    def digest(v: int) -> bytes:
        return bytes([v]) * (size - 1) + bytes([v * 7 % 256])

    tmp = tmp_path_factory.mktemp("exact")
    index = ExactIndex(size)
    model: dict[int, bytes] = {}
    for op, arg in steps:
        if op == "add":
            pairs = arg  # type: ignore[assignment]
            if not pairs:
                continue
            ids = [i for i, _ in pairs]
            rows = np.frombuffer(b"".join(digest(v) for _, v in pairs), dtype=np.uint8)
            index.add(ids, rows.reshape(len(pairs), size))
            for i, v in pairs:
                model[i] = digest(v)
        elif op == "remove":
            present = {i for i in arg if i in model}  # type: ignore[union-attr]
            assert index.remove(arg) == len(present)  # type: ignore[arg-type]
            for i in present:
                del model[i]
        elif op == "compact":
            index.compact()
        else:
            index.save(tmp / "x.jgx")
            index = ExactIndex.open(tmp / "x.jgx", mmap=bool(arg))
        assert len(index) == len(model)
    queries = [digest(v) for v in range(7)]
    result = index.query(np.frombuffer(b"".join(queries), dtype=np.uint8).reshape(-1, size))
    for q, d in enumerate(queries):
        expected = sorted(i for i, v in model.items() if v == d)
        assert [i for i, _ in result.for_query(q)] == expected
    assert set(result.distances.tolist()) <= {0}


def test_digests_sharing_the_first_eight_bytes_are_told_apart() -> None:
    index = ExactIndex(32)
    a = bytes(32)
    b = bytes(31) + b"\x01"
    index.add([1, 2], np.frombuffer(a + b, dtype=np.uint8).reshape(2, 32))
    assert index.query_one(a) == [1]
    assert index.query_one(b) == [2]
    assert index.query_one(bytes(30) + b"\x01\x00") == []


def test_snapshot_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    digests = rng.integers(0, 256, size=(1000, 16), dtype=np.uint8)
    index = ExactIndex(16)
    index.add(np.arange(1000), digests)
    index.remove([5])
    index.save(tmp_path / "md5.jgx")
    opened = ExactIndex.open(tmp_path / "md5.jgx")
    assert len(opened) == 999
    assert opened.query_one(digests[6].tobytes()) == [6]
    assert opened.query_one(digests[5].tobytes()) == []
    result = opened.query(digests[:10])
    assert result.query_index.tolist() == [0, 1, 2, 3, 4, 6, 7, 8, 9]

"""Bad input to either index is an IndexInputError (an InvalidInput, a JagaError), never a crash."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from jaga.errors import InvalidInput, JagaError
from jaga.index import ExactIndex, HammingIndex, IndexInputError, Tuning, hamming_scan

GOOD = np.zeros((2, 32), dtype=np.uint8)


@pytest.fixture
def index() -> HammingIndex:
    idx = HammingIndex()
    idx.add([1, 2], GOOD)
    return idx


def test_error_is_a_jaga_invalid_input() -> None:
    assert issubclass(IndexInputError, InvalidInput)
    assert issubclass(IndexInputError, JagaError)


@pytest.mark.parametrize(
    ("hashes", "message"),
    [
        (np.zeros((2, 31), dtype=np.uint8), "shape"),
        (np.zeros((2, 33), dtype=np.uint8), "shape"),
        (np.zeros((2, 4), dtype=np.uint64), "dtype uint8"),
        (np.zeros((2, 32), dtype=np.int8), "dtype uint8"),
        (np.zeros(64, dtype=np.uint8), "shape"),
        (np.zeros((2, 2, 16), dtype=np.uint8), "shape"),
        ([[0] * 32, [0] * 32], "numpy uint8 array"),
        (b"\0" * 64, "numpy uint8 array"),
    ],
)
def test_wrong_hash_shape_or_dtype(index: HammingIndex, hashes: Any, message: str) -> None:
    with pytest.raises(IndexInputError, match=message):
        index.add([3, 4], hashes)
    with pytest.raises(IndexInputError, match=message):
        index.query(hashes, 10)


def test_ids_and_hashes_of_different_length(index: HammingIndex) -> None:
    with pytest.raises(IndexInputError, match="3 ids but 2 hashes"):
        index.add([1, 2, 3], GOOD)


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        (np.array([1.5, 2.0]), "integers"),
        (np.array([[1, 2]]), "one-dimensional"),
        (np.array([2**63, 1], dtype=np.uint64), "int64"),
        (["a", "b"], "integers"),
        ([1, None], "integers"),
        (np.array([True, False]), "integers"),
    ],
)
def test_bad_ids(index: HammingIndex, ids: Any, message: str) -> None:
    with pytest.raises(IndexInputError, match=message):
        index.add(ids, GOOD)
    with pytest.raises(IndexInputError, match=message):
        index.remove(ids)


@pytest.mark.parametrize("radius", [-1, 257, 10**9])
def test_radius_out_of_range(index: HammingIndex, radius: int) -> None:
    with pytest.raises(IndexInputError, match="between 0 and 256"):
        index.query(GOOD, radius)
    with pytest.raises(IndexInputError, match="between 0 and 256"):
        index.query_one(bytes(32), radius)


@pytest.mark.parametrize("radius", [3.0, "3", True, None])
def test_radius_not_an_integer(index: HammingIndex, radius: Any) -> None:
    with pytest.raises(IndexInputError, match="integer"):
        index.query(GOOD, radius)


def test_radius_up_to_the_bit_count_is_accepted(index: HammingIndex) -> None:
    assert len(index.query(GOOD, 256)) == 4
    assert index.query(GOOD, np.int64(0)).ids.tolist() == [1, 2, 1, 2]


@pytest.mark.parametrize("value", [bytes(31), bytes(33), "00" * 32, 5])
def test_query_one_wrong_length_or_type(index: HammingIndex, value: Any) -> None:
    with pytest.raises(IndexInputError):
        index.query_one(value, 3)


@pytest.mark.parametrize("threads", [0, -1, 1.5, True])
def test_bad_thread_count(index: HammingIndex, threads: Any) -> None:
    with pytest.raises(IndexInputError, match="threads"):
        index.query(GOOD, 3, threads=threads)


@pytest.mark.parametrize("bits", [0, 100, 2048, 128.0, True])
def test_bad_bit_count(bits: Any) -> None:
    with pytest.raises(IndexInputError, match="bits"):
        HammingIndex(bits)


def test_layout_that_does_not_fit_is_refused() -> None:
    with pytest.raises(IndexInputError, match="do not fit"):
        HammingIndex(tuning=Tuning(chunk_widths=(20,) * 13))
    with pytest.raises(IndexInputError, match="do not fit"):
        HammingIndex(tuning=Tuning(chunk_widths=(0, 8)))


def test_scan_helper_checks_its_input() -> None:
    with pytest.raises(IndexInputError):
        hamming_scan(np.zeros((2, 129), dtype=np.uint8), np.zeros((1, 129), dtype=np.uint8), 1)
    with pytest.raises(IndexInputError):
        hamming_scan(GOOD, np.zeros((1, 16), dtype=np.uint8), 1)


def test_exact_index_input_errors() -> None:
    exact = ExactIndex(16)
    with pytest.raises(IndexInputError, match=r"shape \(n, 16\)"):
        exact.add([1], np.zeros((1, 20), dtype=np.uint8))
    with pytest.raises(IndexInputError, match="dtype uint8"):
        exact.query(np.zeros((1, 16), dtype=np.float32))
    with pytest.raises(IndexInputError, match="16 bytes"):
        exact.query_one(bytes(15))
    with pytest.raises(IndexInputError, match="1 ids but 2 digests"):
        exact.add([1], np.zeros((2, 16), dtype=np.uint8))
    with pytest.raises(IndexInputError, match="digest size"):
        ExactIndex(0)

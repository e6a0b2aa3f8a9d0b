"""VariantLinks: variant row -> (parent, name), through small adds, big loads, removals, files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaga.matching.variant_links import LinksError, VariantLinks

NAMES = ("trim", "crop:4", "crop:8", "square")


def _ids(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def test_small_and_big_adds_resolve_to_parents_and_names() -> None:
    links = VariantLinks()
    links.add(_ids(11, 12), _ids(10, 10), ["crop:4", "trim"])
    big = np.arange(1000, 2000, dtype=np.int64)  # a load: more than the dictionary takes
    links.add(big, big // 10, [NAMES[i % 4] for i in range(1000)])
    parents, names = links.resolve(_ids(12, 1503, 11))
    assert parents.tolist() == [10, 150, 10]
    assert names == ["trim", "square", "crop:4"]  # 1503 is row 503 of the load
    assert len(links) == 1002
    with pytest.raises(LinksError, match="variant row 5 has no parent"):
        links.resolve(_ids(5))


def test_a_replaced_link_keeps_the_newest_and_a_discarded_one_goes() -> None:
    links = VariantLinks()
    big = np.arange(100, 400, dtype=np.int64)
    links.add(big, np.full(300, 7, dtype=np.int64), ["crop:4"] * 300)
    links.settle()
    links.add(_ids(150), _ids(8), ["square"])  # the row now belongs elsewhere
    links.discard(_ids(151, 999))  # 999 is no link: ignored
    links.settle()
    parents, names = links.resolve(_ids(150, 152))
    assert (parents.tolist(), names) == ([8, 7], ["square", "crop:4"])
    with pytest.raises(LinksError):
        links.resolve(_ids(151))
    assert len(links) == 299


def test_saved_links_open_memory_mapped(tmp_path: Path) -> None:
    links = VariantLinks()
    links.add(_ids(3, 1, 2), _ids(30, 10, 20), ["trim", "square", "trim"])
    path = tmp_path / "links.npy"
    links.save(path)
    opened = VariantLinks.open(path, links.names)
    assert isinstance(opened._table, np.memmap)
    parents, names = opened.resolve(_ids(1, 2, 3))
    assert (parents.tolist(), names) == ([10, 20, 30], ["square", "trim", "trim"])
    opened.add(_ids(4), _ids(40), ["crop:8"])  # a mapped table is never written to
    assert opened.resolve(_ids(4))[1] == ["crop:8"]


@pytest.mark.parametrize(
    ("table", "names", "needle"),
    [
        (np.array([[2, 1, 0], [1, 1, 0]], dtype=np.int64), ["trim"], "not in id order"),
        (np.array([[1, 1, 3]], dtype=np.int64), ["trim"], "unknown variants"),
        (np.array([[1, 1]], dtype=np.int64), ["trim"], "wrong shape"),
        (np.array([[1, 1, 0]], dtype=np.int32), ["trim"], "wrong shape"),
    ],
)
def test_damaged_links_files_are_refused(
    tmp_path: Path, table: np.ndarray, names: list[str], needle: str
) -> None:
    path = tmp_path / "links.npy"
    np.save(path, table)
    with pytest.raises(LinksError, match=needle):
        VariantLinks.open(path, names)


def test_a_file_that_is_not_an_array_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "links.npy"
    path.write_bytes(b"not numpy")
    with pytest.raises(LinksError, match="unreadable"):
        VariantLinks.open(path, [])


_OPS = st.lists(
    st.one_of(
        st.tuples(
            st.just("add"),
            st.lists(st.integers(1, 60), min_size=1, max_size=300),
            st.integers(1, 9),
        ),
        st.tuples(st.just("discard"), st.lists(st.integers(1, 60), max_size=20), st.just(0)),
        st.tuples(st.just("settle"), st.just([]), st.just(0)),
    ),
    max_size=25,
)


@settings(max_examples=60, deadline=None)
@given(_OPS)
def test_links_agree_with_a_dictionary(ops: list[tuple[str, list[int], int]]) -> None:
    links = VariantLinks()
    model: dict[int, tuple[int, str]] = {}
    for op, ids, parent in ops:
        if op == "add":
            # Sync hands over distinct ids; a load may repeat none either.
            unique = list(dict.fromkeys(ids))
            names = [NAMES[(i + parent) % 4] for i in unique]
            links.add(np.array(unique, dtype=np.int64), np.full(len(unique), parent), names)
            model.update({i: (parent, n) for i, n in zip(unique, names, strict=True)})
        elif op == "discard":
            links.discard(np.array(ids, dtype=np.int64))
            for i in ids:
                model.pop(i, None)
        else:
            links.settle()
    if model:
        keys = sorted(model)
        parents, names = links.resolve(np.array(keys, dtype=np.int64))
        assert list(zip(parents.tolist(), names, strict=True)) == [model[k] for k in keys]
    assert len(links) == len(model)

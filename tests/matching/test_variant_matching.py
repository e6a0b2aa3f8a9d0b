"""Matching through signal variants: variant rows reported as their entry, kept in sync.

The end-to-end tests hash generated photo-like images exactly as the shells do
(:func:`jaga.signals.hashing.hash_bytes`), store them through the bank service and match through
the live matcher, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

import jaga.signals  # noqa: F401  (registers the signal types)
from jaga.banks import service
from jaga.eval.transforms import crop, fit_in_canvas, pad
from jaga.matching.bank_index import BankIndexSet, IndexStateError
from jaga.matching.live import LiveMatcher
from jaga.matching.matcher import Matcher
from jaga.matching.types import BankInfo, Match
from jaga.signals.base import Signal
from jaga.signals.hashing import ContentHashes, HashOptions, hash_bytes
from jaga.store import Database

U8 = NDArray[np.uint8]
BANK_SIDE = HashOptions(signal_types=("pdq",), exact=True, bank_variants=True)
PLAIN = HashOptions(signal_types=("pdq",))
QUERY = HashOptions(signal_types=("pdq",), variants=True)


def _ids(*values: int) -> NDArray[np.int64]:
    return np.array(values, dtype=np.int64)


def _rows(values: list[bytes]) -> NDArray[np.uint8]:
    return np.frombuffer(b"".join(values), dtype=np.uint8).reshape(len(values), 32)


def _pdq(seed: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, 32, dtype=np.uint8).tobytes()


def _flip(value: bytes, bits: int) -> bytes:
    as_int = int.from_bytes(value, "big") ^ (((1 << bits) - 1) << (256 - bits))
    return as_int.to_bytes(32, "big")


# --------------------------------------------------------------------------- index and matcher


def test_variant_rows_are_found_as_their_entry() -> None:
    indexes = BankIndexSet()
    indexes.add(1, "pdq", _ids(10), _rows([_pdq(1)]))
    indexes.add_variants(
        1, "pdq", _ids(11, 12), _rows([_pdq(2), _pdq(3)]), _ids(10, 10), ["crop:8", "trim"]
    )
    assert indexes.entry_count(1, "pdq") == 1  # entries, not variant rows
    assert indexes.variant_count(1, "pdq") == 2
    assert indexes.total_entries() == 1
    assert indexes.total_variants() == 2
    plain = indexes.query(1, "pdq", _rows([_pdq(2)]), 31)
    assert plain.ids.tolist() == []  # the plain query answers for entries only
    hits = indexes.query_variants(1, "pdq", _rows([_flip(_pdq(3), 5), _pdq(9)]), 31)
    assert (hits.query_index.tolist(), hits.entry_ids.tolist()) == ([0], [10])
    assert (hits.distances.tolist(), hits.variants) == ([5], ["trim"])
    # Removing an entry's ids (the feed lists every row) takes its variant rows out.
    assert indexes.remove(1, [10, 11, 12]) == 3
    assert len(indexes.query_variants(1, "pdq", _rows([_pdq(3)]), 31)) == 0
    with pytest.raises(IndexStateError, match="vPDQ"):
        indexes.add_variants(1, "vpdq", _ids(5), _rows([_pdq(1)]), _ids(4), ["trim"])


def test_snapshots_keep_variant_rows(tmp_path: Path) -> None:
    indexes = BankIndexSet()
    indexes.add(1, "pdq", _ids(10, 20), _rows([_pdq(1), _pdq(4)]))
    indexes.add_variants(
        1, "pdq", _ids(11, 21), _rows([_pdq(2), _pdq(5)]), _ids(10, 20), ["a", "b"]
    )
    indexes.add(2, "md5", _ids(30), np.zeros((1, 16), dtype=np.uint8))
    target = tmp_path / "index"
    indexes.save(target, seq=7)
    loaded, seq = BankIndexSet.load(target)
    assert seq == 7
    hits = loaded.query_variants(1, "pdq", _rows([_pdq(5), _pdq(2)]), 0)
    assert sorted(zip(hits.entry_ids.tolist(), hits.variants, strict=True)) == [
        (10, "a"),
        (20, "b"),
    ]
    assert loaded.entry_count(1, "pdq") == 2
    assert loaded.variant_count(2, "md5") == 0
    # A damaged links file makes the whole snapshot unusable (rebuild from the store).
    manifest = json.loads((target / "manifest.json").read_text())
    links = next(s for s in manifest["slots"] if "variants" in s)["variants"]["links"]
    np.save(target / links, np.array([[11, 10, 5]], dtype=np.int64))  # an unknown name code
    with pytest.raises(IndexStateError, match="damaged"):
        BankIndexSet.load(target)


def _matcher(indexes: BankIndexSet) -> Matcher:
    return Matcher({1: BankInfo(1, "known", "known", {})}, indexes)


def test_the_nearest_hit_per_entry_wins_and_plain_wins_ties() -> None:
    base = _pdq(1)
    indexes = BankIndexSet()
    indexes.add(1, "pdq", _ids(10), _rows([base]))
    indexes.add_variants(
        1, "pdq", _ids(11, 12), _rows([_flip(base, 3), base]), _ids(10, 10), ["crop:4", "crop:8"]
    )
    # ``crop:8`` holds the entry's own value here, only to make a tie: same distance as plain.
    outcome = _matcher(indexes).match([Signal("pdq", _flip(base, 3), quality=100)])
    (match,) = outcome.matches
    assert (match.entry_id, match.distance, match.entry_variant) == (10, 0, "crop:4")
    outcome = _matcher(indexes).match([Signal("pdq", base, quality=100)])
    (match,) = outcome.matches
    assert (match.entry_id, match.distance, match.entry_variant) == (10, 0, "")
    # A query variant against a bank variant: both names are reported.
    signals = [
        Signal("pdq", _pdq(50), quality=100),
        Signal("pdq", _flip(base, 9), quality=100, variant="trim"),
    ]
    (match,) = _matcher(indexes).match(signals).matches
    assert (match.query.variant, match.entry_variant, match.distance) == ("trim", "crop:4", 6)


# --------------------------------------------------------------------------- end to end


def _hash(pixels: U8, jpeg: Callable[..., bytes], options: HashOptions) -> ContentHashes:
    return hash_bytes(jpeg(pixels), options)


def _bank_media(
    db: Database, bank: str, pixels: U8, jpeg: Callable[..., bytes], *, variants: bool = True
) -> int:
    hashes = _hash(pixels, jpeg, BANK_SIDE)
    (plain,) = hashes.signals
    extra = [(s.variant, s.value) for s in hashes.bank_variants] if variants else []
    with db.session() as session:
        added = service.add_entry(session, bank, "pdq", plain.value, labels="A1", variants=extra)
    assert added.variants == len(extra)
    return added.id


def _matches(matcher: LiveMatcher, signals: tuple[Signal, ...]) -> list[Match]:
    return list(matcher.match(signals).matches)


@pytest.fixture
def banks(database: Database) -> Database:
    with database.session() as session:
        service.create_bank(session, "plain")
        service.create_bank(session, "media")
    return database


def test_a_crop_matches_only_an_entry_added_with_variants(
    banks: Database, make_texture: Callable[..., U8], make_jpeg: Callable[..., bytes]
) -> None:
    image = make_texture(1)
    plain_id = _bank_media(banks, "plain", image, make_jpeg, variants=False)
    media_id = _bank_media(banks, "media", image, make_jpeg)
    matcher = LiveMatcher(banks).open()
    assert matcher.status().variant_rows >= 5  # crops, square (and trim if any)
    cropped = crop(image, 0.08, 0.08, 0.08, 0.08)
    found = _matches(matcher, _hash(cropped, make_jpeg, QUERY).signals)
    assert [(m.bank_name, m.entry_id) for m in found] == [("media", media_id)]
    assert found[0].entry_variant.startswith("crop:")
    # As is, the copy matches both (through the plain hash).
    as_is = _matches(matcher, _hash(image, make_jpeg, PLAIN).signals)
    assert sorted((m.bank_name, m.entry_id, m.entry_variant) for m in as_is) == [
        ("media", media_id, ""),
        ("plain", plain_id, ""),
    ]


def test_query_variants_find_padded_letterboxed_and_turned_copies_in_a_plain_bank(
    banks: Database, make_texture: Callable[..., U8], make_jpeg: Callable[..., bytes]
) -> None:
    image = make_texture(2)
    entry = _bank_media(banks, "plain", image, make_jpeg, variants=False)
    matcher = LiveMatcher(banks).open()
    edits = {
        "pad": pad(image, 0.2, (0, 0, 0)),
        "letterbox": fit_in_canvas(image, 540, 960, (0, 0, 0)),
        "turn": np.ascontiguousarray(np.rot90(image)),
    }
    for name, edited in edits.items():
        assert _matches(matcher, _hash(edited, make_jpeg, PLAIN).signals) == [], name
        found = _matches(matcher, _hash(edited, make_jpeg, QUERY).signals)
        assert [(m.entry_id, m.entry_variant) for m in found] == [(entry, "")], name
        assert found[0].query.variant != "", name  # through a variant of the upload
    assert {
        m.query.variant for m in _matches(matcher, _hash(edits["turn"], make_jpeg, QUERY).signals)
    } <= {
        "turn90",
        "turn270",
    }


def test_unrelated_images_match_nothing_with_variants_on_both_sides(
    banks: Database, make_texture: Callable[..., U8], make_jpeg: Callable[..., bytes]
) -> None:
    for seed in range(10, 16):
        _bank_media(banks, "media", make_texture(seed), make_jpeg)
    matcher = LiveMatcher(banks).open()
    for seed in range(30, 36):
        image = make_texture(seed)
        for edited in (image, crop(image, 0.1, 0.1, 0.1, 0.1), pad(image, 0.2, (0, 0, 0))):
            assert _matches(matcher, _hash(edited, make_jpeg, QUERY).signals) == [], seed


def test_disabling_and_deleting_an_entry_takes_its_variants_out_after_sync(
    banks: Database, make_texture: Callable[..., U8], make_jpeg: Callable[..., bytes]
) -> None:
    image = make_texture(3)
    entry = _bank_media(banks, "media", image, make_jpeg)
    query = _hash(crop(image, 0.08, 0.08, 0.08, 0.08), make_jpeg, QUERY).signals
    matcher = LiveMatcher(banks).open()
    assert [m.entry_id for m in _matches(matcher, query)] == [entry]
    with banks.session() as session:
        service.disable_entry(session, entry)
    assert matcher.sync() > 1  # one feed row per row: the entry and each variant row
    assert _matches(matcher, query) == []
    with banks.session() as session:
        service.enable_entry(session, entry)
    matcher.sync()
    assert [m.entry_id for m in _matches(matcher, query)] == [entry]
    # One variant row disabled alone: the others still match, as the entry.
    with banks.session() as session:
        rows = service.entry_variants(session, entry)
    matched = _matches(matcher, query)[0].entry_variant
    with banks.session() as session:
        service.disable_entry(session, next(r.id for r in rows if r.variant == matched))
    matcher.sync()
    assert all(m.entry_variant != matched for m in _matches(matcher, query))
    with banks.session() as session:
        service.delete_entry(session, entry)
    matcher.sync()
    assert _matches(matcher, query) == []
    assert matcher.status().variant_rows == 0
    # A fresh matcher built from the store agrees.
    assert _matches(LiveMatcher(banks).open(), query) == []


def test_a_saved_snapshot_keeps_variants_and_catches_up(
    banks: Database,
    make_texture: Callable[..., U8],
    make_jpeg: Callable[..., bytes],
    tmp_path: Path,
) -> None:
    first, second = make_texture(4), make_texture(5)
    entry = _bank_media(banks, "media", first, make_jpeg)
    index_dir = tmp_path / "index"
    matcher = LiveMatcher(banks, index_dir=index_dir).open()
    assert matcher.checkpoint(force=True)
    later = _bank_media(banks, "media", second, make_jpeg)  # after the snapshot
    reopened = LiveMatcher(banks, index_dir=index_dir).open()
    assert reopened.status().built_from == "snapshot"
    for image, expected in ((first, entry), (second, later)):
        query = _hash(crop(image, 0.12, 0.12, 0.12, 0.12), make_jpeg, QUERY).signals
        found = _matches(reopened, query)
        assert [(m.entry_id, m.entry_variant[:5]) for m in found] == [(expected, "crop:")]


def test_the_match_log_names_the_entry_and_both_variants(
    banks: Database, make_texture: Callable[..., U8], make_jpeg: Callable[..., bytes]
) -> None:
    from jaga.matching.log import ContentContext, entry_details, record_content
    from jaga.store.models import MatchRecord

    image = make_texture(6)
    entry = _bank_media(banks, "media", image, make_jpeg)
    hashes = _hash(
        pad(crop(image, 0.08, 0.08, 0.08, 0.08), 0.15, (255, 255, 255)), make_jpeg, QUERY
    )
    outcome = LiveMatcher(banks).open().match(hashes.signals)
    (match,) = outcome.matches
    assert match.entry_id == entry
    with banks.session() as session:
        details = entry_details(session, [match.entry_id])
        assert details[entry].labels == ("A1",)
        record_content(session, ContentContext("upload-1"), hashes.signals, outcome)
    with banks.session() as session:
        (row,) = session.query(MatchRecord).all()
        assert (row.entry_id, row.query_variant, row.entry_variant) == (
            entry,
            match.query.variant,
            match.entry_variant,
        )
        assert row.query_variant in ("trim", "trim_sym", "frame")
        assert row.entry_variant.startswith("crop:")

"""Matcher: per-bank thresholds, quality floor, allow-lists, dihedral variants, vPDQ percentages.

The property test at the end checks the whole rule against a brute-force reference on random
small banks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFilter, ImageOps

import jaga.signals  # noqa: F401  (registers the signal types)
from jaga.matching.bank_index import BankIndexSet
from jaga.matching.matcher import Matcher, MatchPolicy
from jaga.matching.types import ALLOW, KNOWN, BankInfo, Match, MatchOutcome
from jaga.signals import vpdq
from jaga.signals.base import Signal
from jaga.signals.pdq import DIHEDRAL_VARIANTS, pdq_hash, pdq_hash_dihedral


def _pdq(seed: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, 32, dtype=np.uint8).tobytes()


def _flip(value: bytes, bits: int, offset: int = 0) -> bytes:
    """``value`` with ``bits`` bits inverted starting at bit ``offset``: exactly ``bits`` away."""
    mask = ((1 << bits) - 1) << (256 - bits - offset)
    return (int.from_bytes(value, "big") ^ mask).to_bytes(32, "big")


def _distance(a: bytes, b: bytes) -> int:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


def _rows(values: Sequence[bytes]) -> NDArray[np.uint8]:
    return np.frombuffer(b"".join(values), dtype=np.uint8).reshape(len(values), -1)


def _add(indexes: BankIndexSet, bank: int, st_name: str, entries: dict[int, bytes]) -> None:
    ids = np.array(list(entries), dtype=np.int64)
    if st_name == "vpdq":
        indexes.add(bank, st_name, ids, list(entries.values()))
    else:
        indexes.add(bank, st_name, ids, _rows(list(entries.values())))


def _bank(
    bank_id: int,
    name: str,
    *,
    kind: str = KNOWN,
    enabled: bool = True,
    **thresholds: int,
) -> BankInfo:
    return BankInfo(bank_id, name, kind, thresholds, enabled)


def _keys(matches: Sequence[Match]) -> list[tuple[str, int, str, int]]:
    return [(m.bank_name, m.entry_id, m.signal_type, m.distance) for m in matches]


def test_each_bank_matches_at_its_own_threshold() -> None:
    base = _pdq(1)
    banks = {
        1: _bank(1, "a-at-20", pdq=20),
        2: _bank(2, "b-at-19", pdq=19),
        3: _bank(3, "c-default"),  # PDQ default: 31
        4: _bank(4, "d-at-0", pdq=0),
        5: _bank(5, "e-at-256", pdq=256),
    }
    indexes = BankIndexSet()
    for bank_id in banks:
        _add(indexes, bank_id, "pdq", {bank_id * 10: base})
    matcher = Matcher(banks, indexes)
    outcome = matcher.match([Signal("pdq", _flip(base, 20), quality=100)])
    assert _keys(outcome.matches) == [
        ("a-at-20", 10, "pdq", 20),
        ("c-default", 30, "pdq", 20),
        ("e-at-256", 50, "pdq", 20),
    ]
    assert outcome.matched
    far = matcher.match([Signal("pdq", _flip(base, 32), quality=100)])
    assert _keys(far.matches) == [("e-at-256", 50, "pdq", 32)]
    same = matcher.match([Signal("pdq", base, quality=100)])
    assert [m.bank_id for m in same.matches] == [1, 2, 3, 4, 5]
    assert {m.distance for m in same.matches} == {0}


def test_threshold_of_one_signal_type_does_not_leak_to_another() -> None:
    base = _pdq(2)
    banks = {1: _bank(1, "only-md5-set", md5=0)}
    indexes = BankIndexSet()
    _add(indexes, 1, "pdq", {1: base})
    outcome = Matcher(banks, indexes).match([Signal("pdq", _flip(base, 31), quality=100)])
    assert _keys(outcome.matches) == [("only-md5-set", 1, "pdq", 31)]


def test_exact_digests_match_only_when_equal() -> None:
    digest = bytes(range(16))
    banks = {1: _bank(1, "md5s")}
    indexes = BankIndexSet()
    _add(indexes, 1, "md5", {7: digest})
    _add(indexes, 1, "sha256", {8: bytes(32)})
    matcher = Matcher(banks, indexes)
    hit = matcher.match([Signal("md5", digest), Signal("sha256", b"\x01" + bytes(31))])
    assert _keys(hit.matches) == [("md5s", 7, "md5", 0)]
    assert hit.skipped == ()
    miss = matcher.match([Signal("md5", bytes([1]) + digest[1:])])
    assert miss.matches == ()


def test_disabled_banks_and_the_bank_restriction() -> None:
    base = _pdq(3)
    banks = {
        1: _bank(1, "on"),
        2: _bank(2, "off", enabled=False),
        3: _bank(3, "other"),
    }
    indexes = BankIndexSet()
    for bank_id in banks:
        _add(indexes, bank_id, "pdq", {bank_id: base})
    matcher = Matcher(banks, indexes)
    query = [Signal("pdq", base, quality=100)]
    assert [m.bank_id for m in matcher.match(query).matches] == [1, 3]
    assert [m.bank_id for m in matcher.match(query, bank_ids=[3]).matches] == [3]
    assert [m.bank_id for m in matcher.match(query, bank_ids={1, 3}).matches] == [1, 3]
    # Naming a disabled bank does not switch it on; naming none matches nothing.
    assert matcher.match(query, bank_ids=[2]).matches == ()
    assert matcher.match(query, bank_ids=[]).matches == ()
    assert matcher.match(query, bank_ids=[99]).matches == ()


def test_low_quality_hashes_are_skipped_and_reported() -> None:
    base = _pdq(4)
    banks = {1: _bank(1, "b")}
    indexes = BankIndexSet()
    _add(indexes, 1, "pdq", {1: base})
    _add(indexes, 1, "md5", {2: bytes(16)})
    matcher = Matcher(banks, indexes, MatchPolicy(min_quality=50))
    low = Signal("pdq", base, quality=49)
    frame = Signal("vpdq", base, quality=10, frame=3)
    digest = Signal("md5", bytes(16))  # exact hashes have no quality: never skipped
    outcome = matcher.match([low, frame, digest])
    assert outcome.skipped == (low, frame)
    assert _keys(outcome.matches) == [("b", 2, "md5", 0)]
    ok = matcher.match([Signal("pdq", base, quality=50)])
    assert _keys(ok.matches) == [("b", 1, "pdq", 0)]
    assert ok.skipped == ()
    no_quality = matcher.match([Signal("pdq", base)])
    assert _keys(no_quality.matches) == [("b", 1, "pdq", 0)]
    lenient = Matcher(banks, indexes, MatchPolicy(min_quality=0)).match([low])
    assert _keys(lenient.matches) == [("b", 1, "pdq", 0)]
    # "Could not be checked" is not "no match": only skipped signals, nothing matched.
    only_low = matcher.match([low])
    assert only_low.matches == ()
    assert only_low.skipped == (low,)


def test_an_allow_list_match_cancels_known_matches() -> None:
    base, other = _pdq(5), _pdq(6)
    banks = {
        1: _bank(1, "known-a"),
        2: _bank(2, "known-b"),
        3: _bank(3, "allowed", kind=ALLOW, pdq=4),
    }
    indexes = BankIndexSet()
    _add(indexes, 1, "pdq", {11: base})
    _add(indexes, 2, "pdq", {21: _flip(base, 8), 22: other})
    _add(indexes, 3, "pdq", {31: _flip(base, 2, offset=100)})
    matcher = Matcher(banks, indexes)
    outcome = matcher.match([Signal("pdq", base, quality=100)])
    assert outcome.matches == ()
    assert not outcome.matched
    assert _keys(outcome.cancelled) == [("known-a", 11, "pdq", 0), ("known-b", 21, "pdq", 8)]
    assert _keys(outcome.allowed) == [("allowed", 31, "pdq", 2)]
    assert all(m.bank_kind == KNOWN for m in outcome.cancelled)
    assert outcome.all() == outcome.cancelled + outcome.allowed
    # Outside the allow-list's own (tighter) threshold it cancels nothing.
    near = matcher.match([Signal("pdq", _flip(base, 5, offset=200), quality=100)])
    assert _keys(near.matches) == [("known-a", 11, "pdq", 5), ("known-b", 21, "pdq", 13)]
    assert near.cancelled == ()
    assert near.allowed == ()
    # A disabled allow-list cancels nothing either.
    off = dict(banks)
    off[3] = _bank(3, "allowed", kind=ALLOW, enabled=False, pdq=4)
    assert len(Matcher(off, indexes).match([Signal("pdq", base, quality=100)]).matches) == 2
    # An allow-list match alone: nothing to cancel, nothing matched.
    alone = matcher.match([Signal("pdq", _flip(base, 2, offset=100), quality=100)], bank_ids=[3])
    assert (alone.matches, alone.cancelled) == ((), ())
    assert len(alone.allowed) == 1


def test_the_best_distance_is_kept_per_entry() -> None:
    base = _pdq(7)
    plain = Signal("pdq", _flip(base, 25), quality=100)
    turned = Signal("pdq", _flip(base, 3), quality=100, variant="rot90")
    banks = {1: _bank(1, "b")}
    indexes = BankIndexSet()
    # Entry 1 is 25 bits from plain, 3 from turned; entry 2 is 2 from plain, 24 from turned.
    _add(indexes, 1, "pdq", {1: base, 2: _flip(plain.value, 2, offset=200)})
    for signals in ([plain, turned], [turned, plain]):
        outcome = Matcher(banks, indexes).match(signals)
        by_entry = {m.entry_id: m for m in outcome.matches}
        assert len(outcome.matches) == 2
        assert (by_entry[1].distance, by_entry[1].query) == (3, turned)
        assert (by_entry[2].distance, by_entry[2].query) == (2, plain)


def _picture(size: int, seed: int) -> NDArray[np.uint8]:
    """A smooth, asymmetric picture: blurred ellipses, top-heavy (good PDQ quality)."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (size, size), (20, 40, 60))
    draw = ImageDraw.Draw(image)
    for _ in range(20):
        x0, x1 = sorted(int(v) for v in rng.integers(0, size, 2))
        y0, y1 = sorted(int(v) for v in rng.integers(0, size // 2, 2))
        draw.ellipse((x0, y0, x1, y1), fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    return np.asarray(image.filter(ImageFilter.GaussianBlur(2)))


def test_a_mirrored_image_matches_through_a_dihedral_variant() -> None:
    pixels = _picture(250, 2)
    original, quality = pdq_hash(pixels)
    assert quality >= 50
    banks = {1: _bank(1, "b")}
    indexes = BankIndexSet()
    _add(indexes, 1, "pdq", {5: original})
    matcher = Matcher(banks, indexes)
    mirrored = np.asarray(ImageOps.mirror(Image.fromarray(pixels)))
    values, quality = pdq_hash_dihedral(mirrored)
    signals = [
        Signal("pdq", value, quality, variant=variant)
        for value, variant in zip(values, DIHEDRAL_VARIANTS, strict=True)
    ]
    distances = {s.variant: _distance(s.value, original) for s in signals}
    assert distances[""] > 31  # the mirror itself is far from the original...
    best = min(distances, key=lambda v: distances[v])
    assert distances[best] <= 31  # ...one orientation of it is close
    assert matcher.match(signals[:1]).matches == ()
    outcome = matcher.match(signals)
    assert len(outcome.matches) == 1
    match = outcome.matches[0]
    assert (match.entry_id, match.distance) == (5, distances[best])
    assert match.query.variant == best
    assert match.query.variant != ""


def _frames(values: Sequence[bytes], quality: int = 100) -> list[Signal]:
    return [
        Signal("vpdq", value, quality, frame=k, timestamp=float(k))
        for k, value in enumerate(values)
    ]


def _video_entry(values: Sequence[bytes]) -> bytes:
    return vpdq.pack(vpdq.VpdqFeature(v, 100, k, float(k)) for k, v in enumerate(values))


def test_video_matches_when_enough_query_frames_match() -> None:
    target = [_pdq(100 + k) for k in range(10)]
    banks = {1: _bank(1, "videos")}
    indexes = BankIndexSet()
    _add(indexes, 1, "vpdq", {9: _video_entry(target)})
    matcher = Matcher(banks, indexes)

    # 8 of 10 query frames are altered copies of target frames, 2 are unrelated: 80% >= 80%.
    close = [_flip(target[k], 5 + k, offset=10 * k) for k in range(8)]
    query = [*close, _pdq(900), _pdq(901)]
    outcome = matcher.match(_frames(query))
    assert len(outcome.matches) == 1
    match = outcome.matches[0]
    assert (match.entry_id, match.signal_type, match.distance) == (9, "vpdq", 5)
    assert match.query_percent == pytest.approx(80.0)
    assert match.target_percent == pytest.approx(80.0)
    assert match.query.frame == 0  # the frame with the best distance

    # 7 of 10: under 80%, no match.
    fewer = [*close[:7], _pdq(900), _pdq(901), _pdq(902)]
    assert matcher.match(_frames(fewer)).matches == ()

    # A repeated query frame counts once: 7 distinct matching frames of 9 distinct is 77.8%.
    repeated = close[:7] + [close[0]] * 5 + [_pdq(900), _pdq(901)]
    assert matcher.match(_frames(repeated)).matches == ()

    # A short clip entirely from the video: every query frame matches, half the target's do.
    clip = matcher.match(_frames(target[:5]))
    assert len(clip.matches) == 1
    assert clip.matches[0].query_percent == pytest.approx(100.0)
    assert clip.matches[0].target_percent == pytest.approx(50.0)
    assert clip.matches[0].distance == 0

    # The target share is a policy too.
    strict = Matcher(banks, indexes, MatchPolicy(vpdq_target_percent=60.0))
    assert strict.match(_frames(target[:5])).matches == ()
    assert len(strict.match(_frames(target[:6])).matches) == 1


def test_low_quality_video_frames_do_not_count() -> None:
    target = [_pdq(200 + k) for k in range(5)]
    banks = {1: _bank(1, "videos")}
    indexes = BankIndexSet()
    _add(indexes, 1, "vpdq", {3: _video_entry(target)})
    matcher = Matcher(banks, indexes)
    # 4 good frames that match plus 6 unrelated frames of low quality: the 6 are skipped, so
    # the share is 4 of 4.
    frames = _frames(target[:4]) + _frames([_pdq(300 + k) for k in range(6)], quality=20)
    outcome = matcher.match(frames)
    assert len(outcome.skipped) == 6
    assert len(outcome.matches) == 1
    assert outcome.matches[0].query_percent == pytest.approx(100.0)
    assert outcome.matches[0].target_percent == pytest.approx(80.0)


def test_each_video_entry_is_judged_on_its_own_frames() -> None:
    one = [_pdq(400 + k) for k in range(4)]
    two = [_pdq(500 + k) for k in range(4)]
    banks = {1: _bank(1, "videos", vpdq=10)}
    indexes = BankIndexSet()
    _add(indexes, 1, "vpdq", {1: _video_entry(one), 2: _video_entry(two)})
    matcher = Matcher(banks, indexes)
    # Half the frames from each: neither entry reaches 80% of the query.
    assert matcher.match(_frames(one[:2] + two[:2])).matches == ()
    # The bank's vPDQ threshold is per frame: 11 bits off is out at threshold 10.
    assert matcher.match(_frames([_flip(v, 11) for v in one])).matches == ()
    hit = matcher.match(_frames([_flip(v, 10) for v in one]))
    assert _keys(hit.matches) == [("videos", 1, "vpdq", 10)]


def test_video_frames_also_match_still_images_in_pdq_banks() -> None:
    still = _pdq(600)
    banks = {1: _bank(1, "images")}
    indexes = BankIndexSet()
    _add(indexes, 1, "pdq", {44: still})
    frames = _frames([_pdq(601), _pdq(602), _flip(still, 6), _pdq(603)])
    outcome = Matcher(banks, indexes).match(frames)
    assert _keys(outcome.matches) == [("images", 44, "pdq", 6)]
    assert outcome.matches[0].query.signal_type == "vpdq"
    assert outcome.matches[0].query.frame == 2
    assert outcome.matches[0].query_percent is None
    off = Matcher(banks, indexes, MatchPolicy(frames_against_images=False)).match(frames)
    assert off.matches == ()


def test_matches_are_sorted_by_bank_name_distance_and_entry() -> None:
    base = _pdq(700)
    banks = {1: _bank(1, "zeta"), 2: _bank(2, "alpha")}
    indexes = BankIndexSet()
    _add(indexes, 1, "pdq", {1: _flip(base, 3), 2: base})
    _add(indexes, 2, "pdq", {5: _flip(base, 9), 3: _flip(base, 9, offset=100), 4: base})
    outcome = Matcher(banks, indexes).match([Signal("pdq", base, quality=100)])
    assert _keys(outcome.matches) == [
        ("alpha", 4, "pdq", 0),
        ("alpha", 3, "pdq", 9),
        ("alpha", 5, "pdq", 9),
        ("zeta", 2, "pdq", 0),
        ("zeta", 1, "pdq", 3),
    ]


def test_no_signals_and_empty_banks() -> None:
    banks = {1: _bank(1, "empty")}
    matcher = Matcher(banks, BankIndexSet())
    assert matcher.match([]) == MatchOutcome()
    assert matcher.match([Signal("pdq", _pdq(1), quality=100)]).matches == ()
    assert matcher.match(_frames([_pdq(1)])).matches == ()


# -- property: the matcher equals a brute-force reference ------------------------------------


Entries = dict[int, list[tuple[int, str, bytes]]]
Scenario = tuple[dict[int, BankInfo], Entries, list[Signal], int, list[int] | None]


@st.composite
def _scenario(draw: st.DrawFn) -> Scenario:
    bases = [_pdq(draw(st.integers(0, 10_000))) for _ in range(3)]

    def near() -> bytes:
        value = bases[draw(st.integers(0, 2))]
        for bit in draw(st.lists(st.integers(0, 255), max_size=28)):
            value = (int.from_bytes(value, "big") ^ (1 << bit)).to_bytes(32, "big")
        return value

    digests = [bytes([i]) * 16 for i in range(3)]
    banks: dict[int, BankInfo] = {}
    entries: dict[int, list[tuple[int, str, bytes]]] = {}
    next_id = 1
    for bank_id in range(1, draw(st.integers(1, 4)) + 1):
        thresholds = {}
        if draw(st.booleans()):
            thresholds["pdq"] = draw(st.integers(0, 48))
        kind = ALLOW if draw(st.integers(0, 4)) == 0 else KNOWN
        banks[bank_id] = BankInfo(
            bank_id, f"bank{bank_id}", kind, thresholds, draw(st.integers(0, 5)) > 0
        )
        rows = []
        for _ in range(draw(st.integers(0, 8))):
            if draw(st.integers(0, 4)) == 0:
                rows.append((next_id, "md5", digests[draw(st.integers(0, 2))]))
            else:
                rows.append((next_id, "pdq", near()))
            next_id += 1
        entries[bank_id] = rows
    signals = []
    for _ in range(draw(st.integers(0, 6))):
        if draw(st.integers(0, 4)) == 0:
            signals.append(Signal("md5", digests[draw(st.integers(0, 2))]))
        else:
            quality = draw(st.one_of(st.none(), st.integers(0, 100)))
            variant = draw(st.sampled_from(DIHEDRAL_VARIANTS))
            signals.append(Signal("pdq", near(), quality, variant=variant))
    min_quality = draw(st.integers(0, 100))
    bank_ids = draw(st.one_of(st.none(), st.lists(st.integers(1, 5), max_size=3)))
    return banks, entries, signals, min_quality, bank_ids


def _reference(
    banks: dict[int, BankInfo],
    entries: dict[int, list[tuple[int, str, bytes]]],
    signals: list[Signal],
    min_quality: int,
    bank_ids: list[int] | None,
) -> tuple[set[tuple[int, int, str, int]], set[tuple[int, int, str, int]], list[Signal]]:
    """All pairs, best distance per entry; (known, allowed, skipped)."""
    skipped = [
        s
        for s in signals
        if s.signal_type == "pdq" and s.quality is not None and s.quality < min_quality
    ]
    usable = [s for s in signals if not any(s is k for k in skipped)]
    known: set[tuple[int, int, str, int]] = set()
    allowed: set[tuple[int, int, str, int]] = set()
    for bank_id, bank in banks.items():
        if not bank.enabled or (bank_ids is not None and bank_id not in bank_ids):
            continue
        for entry_id, st_name, value in entries[bank_id]:
            candidates = [s for s in usable if s.signal_type == st_name]
            if st_name == "md5":
                distances = [0 for s in candidates if s.value == value]
                radius = 0
            else:
                distances = [_distance(s.value, value) for s in candidates]
                radius = bank.threshold("pdq", 31)
            if distances and min(distances) <= radius:
                row = (bank_id, entry_id, st_name, min(distances))
                (allowed if bank.kind == ALLOW else known).add(row)
    return known, allowed, skipped


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_scenario())
def test_matcher_equals_brute_force(scenario: Scenario) -> None:
    banks, entries, signals, min_quality, bank_ids = scenario
    indexes = BankIndexSet()
    for bank_id, rows in entries.items():
        for st_name in ("pdq", "md5"):
            chosen = {entry_id: value for entry_id, name, value in rows if name == st_name}
            if chosen:
                _add(indexes, bank_id, st_name, chosen)
    outcome = Matcher(banks, indexes, MatchPolicy(min_quality=min_quality)).match(
        signals, bank_ids=bank_ids
    )
    known, allowed, skipped = _reference(banks, entries, signals, min_quality, bank_ids)

    def rows(matches: Sequence[Match]) -> set[tuple[int, int, str, int]]:
        return {(m.bank_id, m.entry_id, m.signal_type, m.distance) for m in matches}

    assert list(outcome.skipped) == skipped
    assert rows(outcome.allowed) == allowed
    if allowed:
        assert outcome.matches == ()
        assert rows(outcome.cancelled) == known
    else:
        assert rows(outcome.matches) == known
        assert outcome.cancelled == ()
    values = {entry_id: value for rows_ in entries.values() for entry_id, _, value in rows_}
    for match in outcome.all():
        # One match per entry, and its query signal is one that achieves the distance.
        assert match.query in signals
        assert match.query.signal_type == match.signal_type
        if match.signal_type == "pdq":
            assert _distance(match.query.value, values[match.entry_id]) == match.distance
        assert match.bank_name == banks[match.bank_id].name
        assert match.bank_kind == banks[match.bank_id].kind
    assert len({m.key for m in outcome.all()}) == len(outcome.all())

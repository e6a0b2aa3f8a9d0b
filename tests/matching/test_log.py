"""The match log: content, its signals and one row per match, in the caller's transaction."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from jaga.banks import service
from jaga.matching.log import ContentContext, entry_details, record_content
from jaga.matching.types import ALLOW, KNOWN, Match, MatchOutcome
from jaga.signals.base import Signal
from jaga.store import Database
from jaga.store.models import Content, ContentSignal, MatchRecord


def _match(bank_id: int, name: str, kind: str, entry_id: int, query: Signal) -> Match:
    return Match(bank_id, name, kind, entry_id, query.signal_type, 4, query)


def test_record_content_writes_content_signals_and_matches(database: Database) -> None:
    with database.session() as session:
        known = service.create_bank(session, "known")
        allow = service.create_bank(session, "fp", kind="allow")
        k1 = service.add_entry(session, known, "pdq", b"\x01" * 32, labels="A1 B2").id
        k2 = service.add_entry(session, known, "md5", b"\x02" * 16, external_id="case-7").id
        a1 = service.add_entry(session, allow, "pdq", b"\x03" * 32, source="review").id
    pdq = Signal("pdq", b"\x01" * 32, quality=90, variant="rot90")
    md5 = Signal("md5", b"\x02" * 16)
    frame = Signal("vpdq", b"\x04" * 32, quality=80, frame=3, timestamp=1.5)
    video = Match(known.id, "known", KNOWN, k1, "vpdq", 7, frame, 85.0, 40.0)
    outcome = MatchOutcome(
        matches=(),
        cancelled=(_match(known.id, "known", KNOWN, k1, pdq), video),
        allowed=(_match(allow.id, "fp", ALLOW, a1, pdq),),
    )
    uploaded = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    context = ContentContext(
        "upload-1", "image", 1234, "JPEG", "user-9", "group-2", uploaded, "192.0.2.7"
    )
    with database.session() as session:
        content_id = record_content(session, context, [pdq, md5, frame], outcome).id
        plain = record_content(
            session,
            ContentContext("upload-2"),
            [md5],
            MatchOutcome(matches=(_match(known.id, "known", KNOWN, k2, md5),)),
        ).id
        record_content(session, ContentContext("upload-3"), [md5])  # signals only
    with database.session() as session:
        content = session.get(Content, content_id)
        assert content is not None
        assert (content.external_id, content.kind, content.size, content.format) == (
            "upload-1",
            "image",
            1234,
            "JPEG",
        )
        assert (content.uploader, content.group_id, content.uploader_ip) == (
            "user-9",
            "group-2",
            "192.0.2.7",
        )
        signals = session.scalars(
            select(ContentSignal)
            .where(ContentSignal.content_id == content_id)
            .order_by(ContentSignal.id)
        ).all()
        assert [(s.signal_type, s.value, s.quality, s.frame, s.variant) for s in signals] == [
            ("pdq", b"\x01" * 32, 90, None, "rot90"),
            ("md5", b"\x02" * 16, None, None, ""),
            ("vpdq", b"\x04" * 32, 80, 3, ""),
        ]
        rows = session.scalars(
            select(MatchRecord).where(MatchRecord.content_id == content_id).order_by("id")
        ).all()
        assert [
            (r.bank_name, r.entry_id, r.signal_type, r.cancelled_by_allow, r.allow_entry_id)
            for r in rows
        ] == [
            ("known", k1, "pdq", True, a1),
            ("known", k1, "vpdq", True, a1),
            ("fp", a1, "pdq", False, None),
        ]
        assert (rows[1].distance, rows[1].query_percent, rows[1].target_percent) == (7, 85, 40)
        standing = session.scalars(select(MatchRecord).where(MatchRecord.content_id == plain)).all()
        assert [(r.entry_id, r.cancelled_by_allow, r.distance) for r in standing] == [
            (k2, False, 4)
        ]
        assert session.scalar(select(func.count()).select_from(Content)) == 3
        assert session.scalar(select(func.count()).select_from(MatchRecord)) == 4

        details = entry_details(session, [k1, k2, a1, k1, 999_999])
        assert sorted(details) == sorted([k1, k2, a1])
        assert details[k1].labels == ("A1", "B2")
        assert details[k2].external_id == "case-7"
        assert details[a1].source == "review"
        assert entry_details(session, []) == {}


def test_a_failed_transaction_leaves_no_half_record(database: Database) -> None:
    with database.session() as session:
        bank = service.create_bank(session, "known")
        entry = service.add_entry(session, bank, "md5", b"\x02" * 16).id
    md5 = Signal("md5", b"\x02" * 16)
    outcome = MatchOutcome(matches=(_match(bank.id, "known", KNOWN, entry, md5),))

    def record_then_fail() -> None:
        with database.session() as session:
            record_content(session, ContentContext("upload-1"), [md5], outcome)
            raise RuntimeError("the caller fails after recording")

    with pytest.raises(RuntimeError):
        record_then_fail()
    with database.session() as session:
        for model in (Content, ContentSignal, MatchRecord):
            assert session.scalar(select(func.count()).select_from(model)) == 0

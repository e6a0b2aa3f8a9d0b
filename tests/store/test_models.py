"""Models: aware UTC timestamps, 64-bit ids never reused, value keys, content and match log."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from jaga.store import Bank, BankEntry, Content, ContentSignal, Database, MatchRecord
from jaga.store.models import FOREVER, value_key


def _bank(session: object, name: str = "b") -> Bank:
    bank = Bank(name=name, kind="known", thresholds={"pdq": 20})
    session.add(bank)  # type: ignore[attr-defined]
    session.flush()  # type: ignore[attr-defined]
    return bank


def test_timestamps_come_back_aware_utc(database: Database) -> None:
    plus_five = timezone(timedelta(hours=5))
    moment = datetime(2024, 5, 1, 17, 30, 15, 123456, tzinfo=plus_five)
    with database.session() as session:
        bank = _bank(session)
        session.add(
            BankEntry(bank_id=bank.id, signal_type="md5", value=b"\x01" * 16, added_at=moment)
        )
    with database.session() as session:
        entry = session.scalars(select(BankEntry)).one()
        assert entry.added_at == moment
        assert entry.added_at.tzinfo is not None
        assert entry.added_at.utcoffset() == timedelta(0)
        assert entry.added_at.hour == 12


def test_forever_survives_a_round_trip(database: Database) -> None:
    with database.session() as session:
        bank = _bank(session)
        session.add(
            BankEntry(
                bank_id=bank.id, signal_type="md5", value=b"\x02" * 16, disabled_until=FOREVER
            )
        )
    with database.session() as session:
        assert session.scalars(select(BankEntry.disabled_until)).one() == FOREVER


def test_same_value_twice_in_a_bank_is_refused(database: Database) -> None:
    with database.session() as session:
        bank_id = _bank(session).id
    with pytest.raises(IntegrityError), database.session() as session:
        session.add_all(
            [BankEntry(bank_id=bank_id, signal_type="pdq", value=b"\x03" * 32) for _ in range(2)]
        )


def test_value_key_is_the_value_or_its_digest() -> None:
    assert value_key(b"\x01" * 32) == b"\x01" * 32
    long = b"\x05" * 450
    assert value_key(long) == hashlib.sha256(long).digest()


def test_ids_of_deleted_rows_are_never_reused(database: Database) -> None:
    with database.session() as session:
        bank = _bank(session)
        entry = BankEntry(bank_id=bank.id, signal_type="md5", value=b"\x04" * 16)
        session.add(entry)
        session.flush()
        first = entry.id
        session.execute(delete(BankEntry))
        again = BankEntry(bank_id=bank.id, signal_type="md5", value=b"\x04" * 16)
        session.add(again)
        session.flush()
        assert again.id > first


def test_deleting_a_bank_deletes_its_entries(database: Database) -> None:
    with database.session() as session:
        bank = _bank(session)
        session.add(BankEntry(bank_id=bank.id, signal_type="md5", value=b"\x06" * 16))
    with database.session() as session:
        session.execute(delete(Bank))
    with database.session() as session:
        assert session.scalars(select(BankEntry)).all() == []


def test_content_signals_and_match_log(database: Database) -> None:
    with database.session() as session:
        content = Content(
            external_id="upload-1",
            kind="image",
            size=1234,
            format="jpeg",
            uploader="account-9",
            group_id="group-3",
            uploaded_at=datetime(2024, 1, 2, tzinfo=UTC),
            uploader_ip="2001:db8::1",
        )
        session.add(content)
        session.flush()
        session.add(
            ContentSignal(content_id=content.id, signal_type="pdq", value=b"\x07" * 32, quality=90)
        )
        session.add(
            MatchRecord(
                content_id=content.id,
                bank_id=7,
                bank_name="gone",
                entry_id=2**40,
                signal_type="pdq",
                distance=3,
            )
        )
        content_id = content.id
    with database.session() as session:
        signal = session.scalars(select(ContentSignal)).one()
        assert (signal.value_key, signal.frame, signal.variant) == (b"\x07" * 32, None, "")
        match = session.scalars(select(MatchRecord)).one()
        assert match.entry_id == 2**40  # 64-bit ids
        assert match.cancelled_by_allow is False
        session.execute(delete(Content).where(Content.id == content_id))
    with database.session() as session:
        # The match log outlives the content; the signals do not.
        assert session.scalars(select(MatchRecord.content_id)).one() is None
        assert session.scalars(select(ContentSignal)).all() == []

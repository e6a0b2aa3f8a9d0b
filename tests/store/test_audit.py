"""The audit log: a chain that verifies, triggers that refuse changes, tampering that is caught.

Tampering tests drop the triggers first, the way an attacker with DDL rights on the database
would, then change rows with plain SQL and expect :func:`verify` to name the first bad row.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from jaga.errors import InvalidInput
from jaga.store import Database
from jaga.store import audit as audit_log
from jaga.store.audit import (
    GENESIS_HASH,
    KEY_ENV,
    append,
    chain_hash,
    list_events,
    row_bytes,
    verify,
)
from jaga.store.db import alembic_config

KEY = "audit-anchor-key-for-tests-0123456789"


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)


def _fill(database: Database, count: int = 5) -> None:
    for i in range(1, count + 1):
        with database.session() as session:
            append(
                session,
                actor=f"user{i % 2}",
                action="key.create" if i % 2 else "action.done",
                target=f"thing:{i}",
                details={"n": i, "note": "ünïcode ✓"},
            )


def _drop_triggers(database: Database) -> None:
    with database.engine.begin() as connection:
        if database.dialect == "postgresql":
            connection.execute(text("DROP TRIGGER audit_log_no_update_delete ON audit_log"))
        else:
            connection.execute(text("DROP TRIGGER audit_log_no_update"))
            connection.execute(text("DROP TRIGGER audit_log_no_delete"))


def _sql(database: Database, *statements: str, **params: object) -> None:
    with database.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement), params)


def _verify(database: Database, key: bytes | None = None) -> audit_log.AuditVerification:
    with database.session() as session:
        return verify(session, key=key)


# ------------------------------------------------------------------------------ the chain


def test_chain_verifies_and_lists(database: Database) -> None:
    _fill(database, 7)
    result = _verify(database)
    assert result.ok, result.message
    assert (result.checked, result.first_bad_seq, result.head_seq) == (7, None, 7)
    with database.session() as session:
        events = list_events(session)
        assert [e.seq for e in events] == list(range(1, 8))
        assert events[0].details == {"n": 1, "note": "ünïcode ✓"}
        assert events[-1].hash == result.head_hash
        assert [e.seq for e in list_events(session, after_seq=3, limit=2)] == [4, 5]
        assert [e.seq for e in list_events(session, action="action.done")] == [2, 4, 6]
        assert [e.seq for e in list_events(session, target="thing:5")] == [5]
        with pytest.raises(InvalidInput):
            list_events(session, limit=0)


def test_hash_is_the_documented_function_of_the_row(database: Database) -> None:
    _fill(database, 2)
    with database.session() as session:
        first, second = list_events(session)
    details = '{"n":1,"note":"ünïcode ✓"}'
    expected = chain_hash(
        GENESIS_HASH, row_bytes(1, first.at, first.actor, first.action, first.target, details)
    )
    assert first.hash == expected.hex()
    assert row_bytes(1, datetime(2020, 1, 1, tzinfo=UTC), "a", "b", "c", "{}") == (
        b'[1,"2020-01-01T00:00:00.000000+00:00","a","b","c","{}"]'
    )
    assert second.hash != first.hash


def test_empty_log_verifies(database: Database) -> None:
    result = _verify(database)
    assert result.ok
    assert (result.checked, result.head_seq, result.head_hash) == (0, 0, GENESIS_HASH.hex())


def test_bad_events_are_refused_and_leave_nothing(database: Database) -> None:
    with database.session() as session:
        with pytest.raises(InvalidInput, match="actor"):
            append(session, actor=" ", action="x", target="y")
        with pytest.raises(InvalidInput, match="plain JSON"):
            append(session, actor="a", action="x", target="y", details={"when": datetime.now()})
        with pytest.raises(InvalidInput, match="plain JSON"):
            append(session, actor="a", action="x", target="y", details={"n": float("nan")})
        with pytest.raises(InvalidInput, match="target"):
            append(session, actor="a", action="x", target="t" * 256)
    with database.session() as session:
        assert list_events(session) == []


def test_event_rolls_back_with_its_transaction(database: Database) -> None:
    _fill(database, 1)

    def crash() -> None:
        with database.session() as session:
            append(session, actor="a", action="key.create", target="key:x")
            raise RuntimeError("the audited change failed")

    with pytest.raises(RuntimeError):
        crash()
    _fill(database, 1)
    with database.session() as session:
        assert [e.seq for e in list_events(session)] == [1, 2]
    assert _verify(database).ok


def test_concurrent_appends_never_fork_the_chain(database: Database) -> None:
    threads, per_thread = 4, 12
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def worker(n: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                with database.session() as session:
                    append(session, actor=f"t{n}", action="test", target=f"{n}:{i}")
        except BaseException as error:  # collected for the assertion below
            errors.append(error)

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert errors == []
    result = _verify(database)
    assert result.ok, result.message
    assert result.checked == threads * per_thread
    with database.session() as session:
        targets = {e.target for e in list_events(session, limit=1000)}
    assert len(targets) == threads * per_thread


# ------------------------------------------------------------------------- append-only


def test_triggers_refuse_update_and_delete(database: Database) -> None:
    _fill(database, 3)
    with pytest.raises(DBAPIError, match="append-only"):
        _sql(database, "UPDATE audit_log SET details = '{}' WHERE seq = 2")
    with pytest.raises(DBAPIError, match="append-only"):
        _sql(database, "DELETE FROM audit_log WHERE seq = 3")
    if database.dialect == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"):
            _sql(database, "TRUNCATE audit_log")
    assert _verify(database).checked == 3


# ---------------------------------------------------------------------------- tampering


@pytest.fixture
def tampered(database: Database) -> Database:
    """Six good rows, then the triggers dropped: the attacker's starting point."""
    _fill(database, 6)
    assert _verify(database).ok
    _drop_triggers(database)
    return database


def test_edited_details_are_detected(tampered: Database) -> None:
    _sql(tampered, "UPDATE audit_log SET details = :d WHERE seq = 3", d='{"n":999}')
    result = _verify(tampered)
    assert not result.ok
    assert result.first_bad_seq == 3
    assert result.checked == 2
    assert "row 3" in result.message


def test_edited_actor_is_detected(tampered: Database) -> None:
    _sql(tampered, "UPDATE audit_log SET actor = 'someone-else' WHERE seq = 5")
    assert _verify(tampered).first_bad_seq == 5


def test_deleted_middle_row_is_detected(tampered: Database) -> None:
    _sql(tampered, "DELETE FROM audit_log WHERE seq = 4")
    result = _verify(tampered)
    assert (result.ok, result.first_bad_seq) == (False, 4)
    assert "missing" in result.message


def test_deleted_first_row_is_detected(tampered: Database) -> None:
    _sql(tampered, "DELETE FROM audit_log WHERE seq = 1")
    assert _verify(tampered).first_bad_seq == 1


def test_deleted_and_renumbered_rows_are_detected(tampered: Database) -> None:
    # Close the gap so seq looks contiguous: the hashes still give it away.
    _sql(tampered, "DELETE FROM audit_log WHERE seq = 2")
    for seq in range(3, 7):
        _sql(tampered, "UPDATE audit_log SET seq = :new WHERE seq = :old", new=seq - 1, old=seq)
    assert _verify(tampered).first_bad_seq == 2


def test_reordered_rows_are_detected(tampered: Database) -> None:
    _sql(
        tampered,
        "UPDATE audit_log SET seq = -2 WHERE seq = 2",
        "UPDATE audit_log SET seq = 2 WHERE seq = 5",
        "UPDATE audit_log SET seq = 5 WHERE seq = -2",
    )
    result = _verify(tampered)
    assert (result.ok, result.first_bad_seq) == (False, 2)


def test_inserted_row_is_detected(tampered: Database) -> None:
    # Make room after row 3 and insert a row whose own hash is computed correctly.
    for seq in range(6, 3, -1):
        _sql(tampered, "UPDATE audit_log SET seq = :new WHERE seq = :old", new=seq + 1, old=seq)
    with tampered.session() as session:
        previous = bytes.fromhex(list_events(session, after_seq=2, limit=1)[0].hash)
    at = datetime(2024, 1, 1, tzinfo=UTC)
    forged = chain_hash(previous, row_bytes(4, at, "admin", "key.revoke", "key:x", "{}")).hex()
    _sql(
        tampered,
        "INSERT INTO audit_log (seq, at, actor, action, target, details, hash) "
        "VALUES (4, :at, 'admin', 'key.revoke', 'key:x', '{}', :hash)",
        at=at if tampered.dialect == "postgresql" else "2024-01-01 00:00:00.000000",
        hash=forged,
    )
    result = _verify(tampered)
    assert not result.ok
    assert result.first_bad_seq == 5  # the forged row adds up; the row after it does not


# ----------------------------------------------------------------------- keyed anchors


def _rewrite_from(database: Database, seq: int, *, keep_macs: bool) -> None:
    """The full-rewrite attack: change row ``seq`` and recompute every hash after it."""
    _sql(database, "UPDATE audit_log SET details = :d WHERE seq = :s", d='{"n":0}', s=seq)
    with database.session() as session:
        events = list_events(session, limit=1000)
    raw = {}
    with database.engine.connect() as connection:
        for row in connection.execute(text("SELECT seq, details FROM audit_log")):
            raw[row.seq] = row.details
    previous = GENESIS_HASH
    for event in events:
        digest = chain_hash(
            previous,
            row_bytes(event.seq, event.at, event.actor, event.action, event.target, raw[event.seq]),
        )
        mac_sql = "" if keep_macs else ", mac = NULL"
        _sql(
            database,
            f"UPDATE audit_log SET hash = :h{mac_sql} WHERE seq = :s",
            h=digest.hex(),
            s=event.seq,
        )
        previous = digest


def test_full_rewrite_passes_without_a_key(tampered: Database) -> None:
    # The documented limit of a bare hash chain: this is why JAGA_AUDIT_KEY exists.
    _rewrite_from(tampered, 3, keep_macs=True)
    assert _verify(tampered).ok


def test_full_rewrite_is_caught_by_the_key(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    _fill(database, 6)
    good = _verify(database)
    assert good.ok
    assert good.anchored == 6
    _drop_triggers(database)
    _rewrite_from(database, 3, keep_macs=True)
    result = _verify(database)
    assert (result.ok, result.first_bad_seq) == (False, 3)
    assert "HMAC" in result.message


def test_stripped_anchors_are_caught(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    _fill(database, 4)
    _drop_triggers(database)
    _rewrite_from(database, 2, keep_macs=False)
    result = _verify(database)
    assert (result.ok, result.first_bad_seq) == (False, 4)
    assert "no HMAC anchor" in result.message


def test_forged_tail_row_is_caught_by_the_key(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    _fill(database, 3)
    with database.session() as session:
        head = list_events(session)[-1]
    at = datetime(2024, 1, 1, tzinfo=UTC)
    forged = chain_hash(
        bytes.fromhex(head.hash), row_bytes(4, at, "admin", "key.create", "key:evil", "{}")
    ).hex()
    _sql(
        database,
        "INSERT INTO audit_log (seq, at, actor, action, target, details, hash) "
        "VALUES (4, :at, 'admin', 'key.create', 'key:evil', '{}', :hash)",
        at=at if database.dialect == "postgresql" else "2024-01-01 00:00:00.000000",
        hash=forged,
    )
    monkeypatch.delenv(KEY_ENV)
    assert _verify(database).ok  # without the key the forged row adds up
    result = _verify(database, key=KEY.encode())
    assert (result.ok, result.first_bad_seq) == (False, 4)


def test_wrong_key_is_reported(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    _fill(database, 2)
    result = _verify(database, key=b"another key")
    assert (result.ok, result.first_bad_seq) == (False, 1)


def test_rows_from_before_the_key_are_covered_by_later_anchors(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(database, 3)
    monkeypatch.setenv(KEY_ENV, KEY)
    unanchored = _verify(database)
    assert not unanchored.ok
    assert unanchored.first_bad_seq == 3
    _fill(database, 1)
    result = _verify(database)
    assert result.ok, result.message
    assert (result.checked, result.anchored) == (4, 1)


# ---------------------------------------------------------------------------- migration


def test_service_migration_downgrades_and_upgrades(database: Database) -> None:
    _fill(database, 2)
    with database.engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0001")
    assert database.revision() == "0001"
    database.migrate()
    assert int(database.revision() or 0) >= 2  # head: 0002 or a later revision
    _fill(database, 2)
    assert _verify(database).checked == 2
    with pytest.raises(DBAPIError, match="append-only"):
        _sql(database, "DELETE FROM audit_log")

"""API keys: tokens shown once and stored as digests, authentication failures, roles, audit."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from jaga.api.keys import (
    ALL_PERMISSIONS,
    PERMISSIONS,
    ROLES,
    AuthError,
    DuplicateApiKey,
    InvalidApiKey,
    MissingApiKey,
    PermissionDenied,
    Principal,
    RevokedApiKey,
    UnknownApiKey,
    authenticate,
    create_key,
    list_keys,
    require,
    revoke_key,
)
from jaga.errors import InvalidInput
from jaga.store import Database
from jaga.store.audit import list_events, verify
from jaga.store.models import ApiKey
from jaga.store.types import utcnow


def _create(database: Database, name: str = "uploader", role: str = "hasher") -> str:
    with database.session() as session:
        _, token = create_key(session, name, role, actor="test")
    return token


def _auth(database: Database, token: str | None) -> Principal:
    with database.session() as session:
        return authenticate(session, token)


def test_token_authenticates_and_only_its_digest_is_stored(database: Database) -> None:
    with database.session() as session:
        principal, token = create_key(session, "uploader", "hasher", rate_limit_per_s=5, actor="t")
    prefix_part, id_part, secret = token.split("_", 2)
    assert prefix_part == "jaga"
    assert len(id_part) == 8
    assert len(secret) >= 43  # 32 random bytes, URL-safe base64
    assert _auth(database, token) == principal
    assert principal.rate_limit_per_s == 5.0
    with database.session() as session:
        row = session.scalars(select(ApiKey)).one()
        assert row.prefix == id_part
        assert row.secret_sha256 == hashlib.sha256(secret.encode()).digest()
        stored = [str(getattr(row, c.key)) for c in ApiKey.__table__.columns]
    assert not any(secret in value for value in stored)


def test_tokens_are_unique(database: Database) -> None:
    tokens = {_create(database, f"k{i}") for i in range(5)}
    assert len(tokens) == 5
    assert len({t.split("_")[1] for t in tokens}) == 5


@pytest.mark.parametrize("token", [None, "", "   "])
def test_no_key(database: Database, token: str | None) -> None:
    with pytest.raises(MissingApiKey, match="missing API key"):
        _auth(database, token)


def test_wrong_key(database: Database) -> None:
    token = _create(database)
    head, secret = token.rsplit("_", 1)
    wrong_secret = head + "_" + ("A" if secret[0] != "A" else "B") + secret[1:]
    unknown_prefix = "jaga_00000000_" + secret
    for bad in (
        wrong_secret,
        unknown_prefix,
        "jaga_xyz",
        "Bearer " + token,
        token + "!",
        "x" * 500,
    ):
        with pytest.raises(InvalidApiKey) as caught:
            _auth(database, bad)
        assert secret not in str(caught.value)


def test_revoked_key(database: Database) -> None:
    token = _create(database, "old")
    with database.session() as session:
        revoked = revoke_key(session, "old", actor="admin:alice")
    assert revoked.name == "old"
    with pytest.raises(RevokedApiKey, match="'old' was revoked"):
        _auth(database, token)
    assert issubclass(RevokedApiKey, AuthError)
    assert issubclass(InvalidApiKey, AuthError)
    assert AuthError.http_status == 401
    assert PermissionDenied.http_status == 403


def test_revoke_by_id_and_unknown(database: Database) -> None:
    _create(database, "a")
    with database.session() as session:
        key_id = list_keys(session)[0].id
        assert revoke_key(session, key_id, actor="t").key_id == key_id
        assert revoke_key(session, str(key_id), actor="t").key_id == key_id  # idempotent
        with pytest.raises(UnknownApiKey):
            revoke_key(session, "nobody", actor="t")
        with pytest.raises(UnknownApiKey):
            revoke_key(session, 999, actor="t")
    with database.session() as session:
        revokes = list_events(session, action="key.revoke")
    assert len(revokes) == 1  # revoking twice is audited once


def test_wrong_role_is_denied() -> None:
    hasher = Principal(1, "uploader", "hasher", None)
    require(hasher, "hash")
    require(hasher, "match")
    with pytest.raises(
        PermissionDenied, match=r"key 'uploader' \(role hasher\) may not banks:read"
    ):
        require(hasher, "banks:read")
    reviewer = Principal(2, "rev", "reviewer", None)
    require(reviewer, "content:view")
    with pytest.raises(PermissionDenied):
        require(reviewer, "banks:write")
    curator = Principal(3, "cur", "curator", None)
    require(curator, "banks:write")
    with pytest.raises(PermissionDenied):
        require(curator, "content:view")
    with pytest.raises(ValueError, match="unknown permission"):
        require(hasher, "bank:read")


def test_role_table() -> None:
    assert ROLES == ("hasher", "curator", "reviewer", "admin")
    assert PERMISSIONS["hasher"] == {"hash", "match"}
    assert PERMISSIONS["curator"] == {"hash", "match", "banks:read", "banks:write", "matches:read"}
    assert PERMISSIONS["reviewer"] == {
        "hash",
        "match",
        "matches:read",
        "actions:read",
        "content:view",
        "review",
    }
    assert PERMISSIONS["admin"] == ALL_PERMISSIONS
    assert {"actions:write", "keys:admin", "audit:read"} < PERMISSIONS["admin"]
    for role in ROLES[:3]:
        assert not {"keys:admin", "audit:read", "actions:write"} & PERMISSIONS[role]
    assert Principal(1, "x", "admin", None).can("keys:admin")
    assert not Principal(1, "x", "nonsense", None).can("hash")


def test_hasher_key_cannot_read_banks_end_to_end(database: Database) -> None:
    principal = _auth(database, _create(database, "uploader", "hasher"))
    require(principal, "hash")
    with pytest.raises(PermissionDenied, match="banks:read"):
        require(principal, "banks:read")


@pytest.mark.parametrize(
    ("name", "role", "rate", "error"),
    [
        ("ok", "superuser", None, "unknown role"),
        ("", "admin", None, "invalid key name"),
        ("has space", "admin", None, "invalid key name"),
        ("-dash", "admin", None, "invalid key name"),
        ("12345", "admin", None, "all digits"),
        ("x" * 65, "admin", None, "invalid key name"),
        ("ok", "admin", 0, "positive"),
        ("ok", "admin", float("inf"), "positive"),
    ],
)
def test_bad_key_settings(
    database: Database, name: str, role: str, rate: float | None, error: str
) -> None:
    with database.session() as session:
        with pytest.raises(InvalidInput, match=error):
            create_key(session, name, role, rate_limit_per_s=rate, actor="t")
        assert list_keys(session) == []


def test_duplicate_name_even_if_revoked(database: Database) -> None:
    _create(database, "dup")
    with database.session() as session:
        revoke_key(session, "dup", actor="t")
    with database.session() as session, pytest.raises(DuplicateApiKey):
        create_key(session, "dup", "admin", actor="t")


def test_list_keys_never_shows_secrets(database: Database) -> None:
    token = _create(database, "a", "admin")
    _create(database, "b", "curator")
    with database.session() as session:
        revoke_key(session, "b", actor="t")
        keys = list_keys(session)
        active = list_keys(session, include_revoked=False)
    assert [(k.name, k.role, k.active) for k in keys] == [
        ("a", "admin", True),
        ("b", "curator", False),
    ]
    assert [k.name for k in active] == ["a"]
    assert not any(hasattr(k, "secret_sha256") for k in keys)
    assert token.split("_", 2)[2] not in repr(keys)
    assert keys[1].revoked_by == "t"


def test_last_used_is_written_at_most_once_a_minute(database: Database) -> None:
    token = _create(database)
    _auth(database, token)
    with database.session() as session:
        first = session.scalars(select(ApiKey.last_used_at)).one()
    assert first is not None
    _auth(database, token)
    with database.session() as session:
        assert session.scalars(select(ApiKey.last_used_at)).one() == first
        session.execute(update(ApiKey).values(last_used_at=utcnow() - timedelta(minutes=2)))
    _auth(database, token)
    with database.session() as session:
        latest = session.scalars(select(ApiKey.last_used_at)).one()
    assert latest is not None
    assert latest > first


def test_key_changes_are_audited(database: Database) -> None:
    _create(database, "a", "admin")
    with database.session() as session:
        revoke_key(session, "a", actor="cli:root")
    with database.session() as session:
        events = list_events(session)
        assert [(e.actor, e.action, e.target) for e in events] == [
            ("test", "key.create", "key:a"),
            ("cli:root", "key.revoke", "key:a"),
        ]
        assert events[0].details["role"] == "admin"
        assert verify(session).ok


def test_failed_create_leaves_no_key_and_no_audit(database: Database) -> None:
    def crash() -> None:
        with database.session() as session:
            create_key(session, "a", "admin", actor="t")
            raise RuntimeError("crash before commit")

    with pytest.raises(RuntimeError):
        crash()
    with database.session() as session:
        assert list_keys(session) == []
        assert list_events(session) == []


def test_authentication_survives_a_concurrent_writer(database: Database) -> None:
    # The request's transaction has already read something when another connection commits a
    # write; on SQLite its own write (last_used_at) can then not proceed. Auth must still work.
    token = _create(database)
    with database.session() as session:
        session.scalar(select(ApiKey.id))  # the request's transaction is now reading
        with database.session() as other:
            create_key(other, "other", "hasher", actor="t")
        principal = authenticate(session, token)
        assert principal.name == "uploader"
        assert session.scalar(select(ApiKey.name).where(ApiKey.id == principal.key_id))

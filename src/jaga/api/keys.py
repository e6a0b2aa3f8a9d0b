"""API keys and roles: who may call the service, and what each role may do.

Pure logic over a SQLAlchemy Session (no HTTP here); the FastAPI layer turns
:class:`AuthError` into 401 and :class:`PermissionDenied` into 403 (see ``http_status``).

A token looks like ``jaga_<prefix>_<secret>``: ``prefix`` is 8 random hex digits stored in the
clear to find the key in one indexed lookup, ``secret`` is 32 random bytes (URL-safe base64).
Only the SHA-256 of the secret is stored and it is compared in constant time. Why SHA-256 and
not a slow password hash (bcrypt, scrypt, Argon2): those exist to make guessing *low-entropy*
human passwords expensive after a database leak. A 256-bit random secret cannot be guessed
whatever the hash costs, so a slow KDF would only add milliseconds to every API request.

Roles are fixed and nested by job, not by rank: a ``reviewer`` may look at content but not edit
banks, a ``curator`` may edit banks but not look at content; ``admin`` may do everything.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import ClassVar, Final

from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from jaga.errors import InvalidInput, JagaError, NotFound
from jaga.store import audit
from jaga.store.models import API_KEY_ROLES, ApiKey
from jaga.store.types import utcnow

ROLES: Final = API_KEY_ROLES
TOKEN_PREFIX: Final = "jaga"
SECRET_BYTES: Final = 32
#: ``last_used_at`` is written at most this often per key: one write per request would turn
#: every read-only call into a write (and a lock on SQLite).
LAST_USED_RESOLUTION: Final = timedelta(minutes=1)

_HASHER = frozenset({"hash", "match"})
_CURATOR = _HASHER | {"banks:read", "banks:write", "matches:read"}
_REVIEWER = _HASHER | {"matches:read", "actions:read", "content:view", "review"}
_ADMIN = _CURATOR | _REVIEWER | {"actions:write", "keys:admin", "audit:read"}

PERMISSIONS: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {"hasher": _HASHER, "curator": _CURATOR, "reviewer": _REVIEWER, "admin": _ADMIN}
)
ALL_PERMISSIONS: Final = _ADMIN

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_PREFIX = re.compile(r"[0-9a-f]{8}")
_SECRET = re.compile(r"[A-Za-z0-9_-]{43,128}")
_MAX_TOKEN = 256


class AuthError(JagaError):
    """The request is not authenticated (HTTP 401)."""

    http_status: ClassVar[int] = 401


class MissingApiKey(AuthError):
    """No API key was presented."""


class InvalidApiKey(AuthError):
    """The token is malformed or matches no key."""


class RevokedApiKey(AuthError):
    """The key existed but was revoked."""


class PermissionDenied(JagaError):
    """The key is valid but its role lacks the permission (HTTP 403)."""

    http_status: ClassVar[int] = 403


class UnknownApiKey(NotFound):
    """No key with that id or name (for revoke)."""


class DuplicateApiKey(InvalidInput):
    """A key with that name exists (revoked keys keep their names, for the audit trail)."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, name and role, and its own rate limit if it has one."""

    key_id: int
    name: str
    role: str
    rate_limit_per_s: float | None

    def can(self, permission: str) -> bool:
        return permission in PERMISSIONS.get(self.role, frozenset())


@dataclass(frozen=True)
class ApiKeyInfo:
    """A key as listed: never its secret or the secret's digest."""

    id: int
    name: str
    role: str
    prefix: str
    rate_limit_per_s: float | None
    created_by: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _principal(row: ApiKey) -> Principal:
    return Principal(row.id, row.name, row.role, row.rate_limit_per_s)


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("ascii")).digest()


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput(
            f"invalid key name {name!r}: 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    if name.isdigit():
        raise InvalidInput(f"invalid key name {name!r}: a name must not be all digits (ids are)")
    return name


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}: expected one of {', '.join(ROLES)}")
    return role


def _check_rate(rate: float | None) -> float | None:
    if rate is None:
        return None
    if isinstance(rate, bool) or not isinstance(rate, int | float):
        raise InvalidInput(f"rate limit must be a number, got {rate!r}")
    if not math.isfinite(rate) or rate <= 0:
        raise InvalidInput(f"rate limit must be a positive number of requests per second: {rate}")
    return float(rate)


def create_key(
    session: Session,
    name: str,
    role: str,
    *,
    rate_limit_per_s: float | None = None,
    actor: str,
) -> tuple[Principal, str]:
    """Create a key and return it with its token; the token is shown this once, never stored."""
    _check_name(name)
    _check_role(role)
    rate = _check_rate(rate_limit_per_s)
    if session.scalar(select(ApiKey.id).where(ApiKey.name == name)) is not None:
        raise DuplicateApiKey(f"an API key named {name!r} already exists")
    while True:  # 32-bit prefixes: a collision is rare, but must not become an error
        prefix = secrets.token_hex(4)
        if session.scalar(select(ApiKey.id).where(ApiKey.prefix == prefix)) is None:
            break
    secret = secrets.token_urlsafe(SECRET_BYTES)
    row = ApiKey(
        name=name,
        role=role,
        prefix=prefix,
        secret_sha256=_digest(secret),
        rate_limit_per_s=rate,
        created_by=actor,
    )
    session.add(row)
    session.flush()
    audit.append(
        session,
        actor=actor,
        action="key.create",
        target=f"key:{name}",
        details={"id": row.id, "role": role, "prefix": prefix, "rate_limit_per_s": rate},
    )
    return _principal(row), f"{TOKEN_PREFIX}_{prefix}_{secret}"


def _split(token: str) -> tuple[str, str]:
    parts = token.split("_", 2)
    if (
        len(token) > _MAX_TOKEN
        or len(parts) != 3
        or parts[0] != TOKEN_PREFIX
        or not _PREFIX.fullmatch(parts[1])
        or not _SECRET.fullmatch(parts[2])
    ):
        raise InvalidApiKey("invalid API key (expected a token like jaga_<id>_<secret>)")
    return parts[1], parts[2]


def authenticate(session: Session, token: str | None) -> Principal:
    """The principal a token belongs to; raises :class:`AuthError` for anything else.

    Messages never repeat the token. ``last_used_at`` is updated in the caller's transaction
    at most once per :data:`LAST_USED_RESOLUTION`.
    """
    if token is None or not token.strip():
        raise MissingApiKey("missing API key (send it as 'Authorization: Bearer <token>')")
    prefix, secret = _split(token.strip())
    row = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    stored = row.secret_sha256 if row is not None else bytes(32)
    # Compare even for an unknown prefix, so the time taken does not tell which prefixes exist.
    matched = hmac.compare_digest(_digest(secret), stored)
    if row is None or not matched:
        raise InvalidApiKey("invalid API key")
    if row.revoked_at is not None:
        raise RevokedApiKey(f"API key {row.name!r} was revoked")
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        _touch(session, row.id, now)
    return _principal(row)


def _touch(session: Session, key_id: int, now: datetime) -> None:
    """Record use, best effort: a busy database must not turn a valid key into an error.

    On SQLite a read transaction cannot start writing once another connection has committed
    since it began ("database is locked" at once, no waiting); the update is then skipped and
    made by a later request. The savepoint keeps the caller's transaction usable either way.
    """
    try:
        with session.begin_nested():
            session.execute(
                update(ApiKey)
                .where(ApiKey.id == key_id)
                .values(last_used_at=now)
                .execution_options(synchronize_session=False)
            )
    except OperationalError:
        pass


def _find(session: Session, key: int | str) -> ApiKey:
    if isinstance(key, int) and not isinstance(key, bool):
        row = session.get(ApiKey, key)
    elif isinstance(key, str) and key.isdigit():
        row = session.get(ApiKey, int(key))
    elif isinstance(key, str):
        row = session.scalar(select(ApiKey).where(ApiKey.name == key))
    else:
        raise InvalidInput(f"name an API key by id or name, got {key!r}")
    if row is None:
        raise UnknownApiKey(f"no API key {key!r}")
    return row


def revoke_key(session: Session, key: int | str, *, actor: str) -> Principal:
    """Revoke a key by id or name. Revoking a revoked key changes nothing (and is not audited)."""
    row = _find(session, key)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        row.revoked_by = actor
        session.flush()
        audit.append(
            session,
            actor=actor,
            action="key.revoke",
            target=f"key:{row.name}",
            details={"id": row.id, "role": row.role},
        )
    return _principal(row)


def list_keys(session: Session, *, include_revoked: bool = True) -> list[ApiKeyInfo]:
    """Every key in id order, without secrets or their digests."""
    query = select(ApiKey).order_by(ApiKey.id)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    return [
        ApiKeyInfo(
            id=row.id,
            name=row.name,
            role=row.role,
            prefix=row.prefix,
            rate_limit_per_s=row.rate_limit_per_s,
            created_by=row.created_by,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
            revoked_by=row.revoked_by,
        )
        for row in session.scalars(query)
    ]


def require(principal: Principal, permission: str) -> None:
    """Raise :class:`PermissionDenied` unless the principal's role grants ``permission``."""
    if permission not in ALL_PERMISSIONS:
        # A typo in a route's permission must fail loudly, not deny (or allow) silently.
        raise ValueError(f"unknown permission {permission!r}")
    if not principal.can(permission):
        raise PermissionDenied(
            f"key {principal.name!r} (role {principal.role}) may not {permission}"
        )

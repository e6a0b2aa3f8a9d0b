"""The audit log: append-only, hash-chained, optionally anchored with a secret key.

Who did what to what, and when: keys created and revoked, actions executed, dead actions
requeued. Each row's ``hash`` is ``SHA-256(previous row's hash || canonical bytes of this row)``
where the canonical bytes are the JSON array ``[seq, at, actor, action, target, details]``
(sorted keys, no spaces, UTF-8) and the first row's "previous hash" is 32 zero bytes. Because
``seq`` and the previous hash are inside every hash, :func:`verify` notices a row that was
edited, deleted, inserted or moved: the chain stops adding up at that row.

Threat model, honestly:

* The database refuses UPDATE and DELETE on ``audit_log`` (triggers installed by the migration;
  TRUNCATE too on PostgreSQL). That stops the application, bugs and casual ``DELETE`` in a SQL
  shell. It does not stop someone with DDL rights, who can drop the trigger first.
* Such an attacker who edits, deletes, inserts or reorders rows *without* recomputing the
  hashes after them is caught by :func:`verify`, which reports the first bad ``seq``.
* An attacker who rewrites the whole chain from the edit onwards (SHA-256 needs no secret) is
  caught only with ``JAGA_AUDIT_KEY``: then every row also stores ``mac = HMAC-SHA256(key,
  hash)``, and :func:`verify` requires a valid MAC on the newest row (which covers every row
  before it through the chain) and on every row that has one. Keep the key out of the
  database (environment or secret manager of the application hosts): whoever holds both the
  key and write access can forge anything.
* Removing the newest rows (truncating the tail) leaves a shorter, valid chain; nothing inside
  the database can tell. Record ``head_seq``/``head_hash`` from :func:`verify` somewhere else
  (a log shipper, a ticket, a daily e-mail) and compare: the chain up to a recorded head can
  not be changed without changing that hash.
* In production, also revoke UPDATE, DELETE and TRUNCATE on ``audit_log`` from the role the
  application connects as, so dropping the trigger is not enough.

Appends are serialized so the chain never forks: on PostgreSQL by a transaction-scoped advisory
lock (per schema), on SQLite by taking the database's single write lock before reading the
newest row. The lock is held until the caller's transaction ends, so append last and commit
soon.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from jaga.errors import InvalidInput
from jaga.store.models import AuditEvent
from jaga.store.types import as_utc, utcnow

GENESIS_HASH: Final = bytes(32)
KEY_ENV: Final = "JAGA_AUDIT_KEY"
#: First half of the PostgreSQL advisory lock key; the second half is the schema's hash.
_LOCK_CLASS: Final = 0x4A41_4155  # "JAAU"
_VERIFY_CHUNK: Final = 2_000
MAX_LIST: Final = 1_000


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]
    hash: str
    anchored: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "details": self.details,
            "hash": self.hash,
            "anchored": self.anchored,
        }


@dataclass(frozen=True)
class AuditVerification:
    """The outcome of :func:`verify`.

    ``first_bad_seq`` is the seq where the chain stops adding up (for a deleted row: the seq
    that is missing). ``head_seq``/``head_hash`` are the newest row's, to be recorded outside
    the database; ``anchored`` counts rows whose HMAC was checked.
    """

    ok: bool
    checked: int
    first_bad_seq: int | None
    message: str
    head_seq: int
    head_hash: str
    anchored: int


def audit_key(env: Mapping[str, str] | None = None) -> bytes | None:
    """The anchoring key from ``JAGA_AUDIT_KEY`` (None if unset or empty)."""
    value = (os.environ if env is None else env).get(KEY_ENV, "")
    return value.encode("utf-8") if value else None


def canonical_details(details: Mapping[str, object] | None) -> str:
    """Details as canonical JSON text; anything that is not plain JSON is refused."""
    try:
        return json.dumps(
            dict(details or {}),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        )
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"audit details are not plain JSON: {exc}") from None


def _timestamp(at: datetime) -> str:
    return as_utc(at).astimezone(UTC).isoformat(timespec="microseconds")


def row_bytes(seq: int, at: datetime, actor: str, action: str, target: str, details: str) -> bytes:
    """The canonical bytes of one row's fields (what is hashed after the previous hash)."""
    fields = [seq, _timestamp(at), actor, action, target, details]
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def chain_hash(previous: bytes, row: bytes) -> bytes:
    return hashlib.sha256(previous + row).digest()


def _mac(key: bytes, digest_hex: str) -> str:
    return hmac.new(key, bytes.fromhex(digest_hex), hashlib.sha256).hexdigest()


def _lock_chain(session: Session) -> None:
    """Serialize appenders until the end of the caller's transaction."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:k, hashtext(current_schema()))"),
            {"k": _LOCK_CLASS},
        )
    elif dialect == "sqlite":
        # A write statement, even one that changes nothing, takes SQLite's write lock now
        # (waiting for it if another connection holds it), so no one appends between our
        # read of the head and our insert. The triggers fire per row: none here.
        session.execute(text("UPDATE audit_log SET seq = seq WHERE 0"))


def _check_text(name: str, value: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"audit {name} must be a non-empty string")
    if len(value) > limit:
        raise InvalidInput(f"audit {name} is longer than {limit} characters")
    return value


def append(
    session: Session,
    *,
    actor: str,
    action: str,
    target: str,
    details: Mapping[str, object] | None = None,
) -> AuditRecord:
    """Append one event in the caller's transaction and return it.

    Call it last in a transaction: it holds the log's lock until commit. The event is only
    in the log if the caller's transaction commits, so an audited change and its audit row
    are committed or rolled back together.
    """
    _check_text("actor", actor, 255)
    _check_text("action", action, 64)
    if not isinstance(target, str) or len(target) > 255:
        raise InvalidInput("audit target must be a string of at most 255 characters")
    details_text = canonical_details(details)
    _lock_chain(session)
    head = session.execute(
        select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    seq = 1 if head is None else head.seq + 1
    previous = GENESIS_HASH if head is None else bytes.fromhex(head.hash)
    at = utcnow()
    digest = chain_hash(previous, row_bytes(seq, at, actor, action, target, details_text)).hex()
    key = audit_key()
    row = AuditEvent(
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        target=target,
        details=details_text,
        hash=digest,
        mac=_mac(key, digest) if key else None,
    )
    session.add(row)
    session.flush()
    return _record(row)


def _record(row: AuditEvent) -> AuditRecord:
    try:
        details = json.loads(row.details)
    except ValueError:
        details = {"unreadable": row.details}
    if not isinstance(details, dict):
        details = {"value": details}
    return AuditRecord(
        seq=row.seq,
        at=row.at,
        actor=row.actor,
        action=row.action,
        target=row.target,
        details=details,
        hash=row.hash,
        anchored=row.mac is not None,
    )


def _bad(checked: int, seq: int, message: str, anchored: int) -> AuditVerification:
    return AuditVerification(False, checked, seq, message, 0, "", anchored)


def verify(session: Session, *, key: bytes | None = None) -> AuditVerification:
    """Walk the whole chain and report the first row where it stops adding up.

    ``key`` defaults to ``JAGA_AUDIT_KEY``. Without a key, only the hash chain is checked; with
    one, each stored MAC is checked too, and the newest row must carry one.
    """
    key = key if key is not None else audit_key()
    previous = GENESIS_HASH
    expected_seq = 1
    checked = anchored = 0
    last_mac: str | None = None
    while True:
        # Plain rows, not ORM objects: a long log must not pile up in the identity map.
        rows = session.execute(
            select(
                AuditEvent.seq,
                AuditEvent.at,
                AuditEvent.actor,
                AuditEvent.action,
                AuditEvent.target,
                AuditEvent.details,
                AuditEvent.hash,
                AuditEvent.mac,
            )
            .where(AuditEvent.seq >= expected_seq)
            .order_by(AuditEvent.seq)
            .limit(_VERIFY_CHUNK)
        ).all()
        if not rows:
            break
        for row in rows:
            if row.seq != expected_seq:
                message = (
                    f"row {expected_seq} is missing (seq {row.seq} follows {expected_seq - 1})"
                )
                return _bad(checked, expected_seq, message, anchored)
            digest = chain_hash(
                previous,
                row_bytes(row.seq, row.at, row.actor, row.action, row.target, row.details),
            )
            if not hmac.compare_digest(digest.hex(), row.hash):
                message = (
                    f"row {row.seq} does not match its hash: it was edited, inserted or moved, "
                    "or a row before it was removed"
                )
                return _bad(checked, row.seq, message, anchored)
            if key is not None and row.mac is not None:
                if not hmac.compare_digest(_mac(key, row.hash), row.mac):
                    message = (
                        f"row {row.seq} has a wrong HMAC anchor: the chain was rewritten from "
                        "here, or JAGA_AUDIT_KEY is not the key it was written with"
                    )
                    return _bad(checked, row.seq, message, anchored)
                anchored += 1
            previous = digest
            last_mac = row.mac
            checked += 1
            expected_seq += 1
    head_seq = expected_seq - 1
    head_hash = previous.hex()
    if key is not None and checked and last_mac is None:
        message = (
            f"the newest row ({head_seq}) has no HMAC anchor: rows after the last anchored one "
            "were written without the key, or the anchors were stripped"
        )
        return AuditVerification(False, checked, head_seq, message, head_seq, head_hash, anchored)
    message = f"{checked} row(s) verified" + (f", {anchored} anchored" if key is not None else "")
    return AuditVerification(True, checked, None, message, head_seq, head_hash, anchored)


def list_events(
    session: Session,
    *,
    after_seq: int = 0,
    limit: int = 100,
    action: str | None = None,
    target: str | None = None,
) -> list[AuditRecord]:
    """Events in seq order after ``after_seq`` (page by passing the last seq you saw)."""
    if limit < 1 or limit > MAX_LIST:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIST}, got {limit}")
    query = select(AuditEvent).where(AuditEvent.seq > after_seq)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    if target is not None:
        query = query.where(AuditEvent.target == target)
    rows = session.scalars(query.order_by(AuditEvent.seq).limit(limit))
    return [_record(row) for row in rows]

"""The tables of Jaga's core: banks and their entries, the change feed, content and the match log.

Designed for banks of millions of entries: hash values are raw bytes (32 for PDQ), entry ids are
64-bit (they double as ids in the in-memory index), and every column a query filters by has an
index. Later parts of the service (HTTP API, rules, actions, audit) add their own models to
``Base.metadata`` and their own Alembic revisions; the naming convention below keeps constraint
names identical on SQLite and PostgreSQL so those migrations can refer to them.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any, ClassVar, Final

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from jaga.store.types import BigIntPK, UTCDateTime, utcnow

NAMING_CONVENTION: Final = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

BANK_KINDS: Final = ("known", "allow")
CHANGE_OPS: Final = ("add", "remove", "update")

#: ``disabled_until`` value meaning "disabled until someone enables it again". A date rather than
#: a flag keeps "is this entry active" a single indexed comparison.
FOREVER: Final = datetime(9999, 1, 1, tzinfo=UTC)

#: Values longer than this are keyed by their SHA-256 (see :func:`value_key`).
MAX_INLINE_KEY: Final = 32


def value_key(value: bytes) -> bytes:
    """The unique, indexable key of a hash value.

    Fixed-size hashes (PDQ, MD5, SHA-1, SHA-256: at most 32 bytes) are their own key. A vPDQ value
    holds 45 bytes per video frame and can run to megabytes, beyond PostgreSQL's ~2.7 KB limit on
    a B-tree row, so longer values are keyed by their SHA-256 digest.
    """
    if len(value) <= MAX_INLINE_KEY:
        return bytes(value)
    return hashlib.sha256(value).digest()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class Bank(Base):
    """A named list of hashes of known material (``known``) or known false positives (``allow``)."""

    __tablename__ = "banks"
    __table_args__ = (
        CheckConstraint("kind IN ('known', 'allow')", name="kind"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="known")
    #: Per-signal-type distance thresholds that override the signal type's default.
    thresholds: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    entries: Mapped[list[BankEntry]] = relationship(
        back_populates="bank", passive_deletes=True, lazy="raise_on_sql"
    )

    def __repr__(self) -> str:
        return f"Bank(id={self.id!r}, name={self.name!r}, kind={self.kind!r})"


class BankEntry(Base):
    """One hash in one bank, with where it came from.

    ``labels`` is a space-separated, sorted set of labels (``"A1 B2"``): compact, readable in any
    SQL shell, and exported as-is to CSV. An entry is inactive while ``now < disabled_until``.

    A *variant row* (``parent_id`` set, ``variant`` naming it, e.g. ``"crop:8"``) is an extra
    hash of the parent entry's media (a central crop, the image without its border...; see
    :mod:`jaga.signals.variants`), stored so that edited copies still match. It copies the
    parent's labels and provenance, is disabled, enabled and deleted with it (ON DELETE CASCADE
    backs up the service, which also writes the change-feed rows), is never exported, and a match
    on it is reported as a match on the parent. Plain entries have ``parent_id`` NULL and
    ``variant`` ``""``.
    """

    __tablename__ = "bank_entries"
    __table_args__ = (
        UniqueConstraint("bank_id", "signal_type", "value_key"),
        # Paging and exporting a bank in id order.
        Index(None, "bank_id", "id"),
        # Removing entries an exchange withdrew (NCMEC deletions name the record, not the hash).
        Index(None, "bank_id", "external_id"),
        # Finding disables that ran out; partial, so the millions of active rows cost nothing.
        Index(
            None,
            "disabled_until",
            sqlite_where=text("disabled_until IS NOT NULL"),
            postgresql_where=text("disabled_until IS NOT NULL"),
        ),
        # A parent's variant rows (disable, enable, delete them with it; the FK's cascade).
        # Partial: banks from exchanges hold no variant rows, and pay nothing for the index.
        Index(
            None,
            "parent_id",
            sqlite_where=text("parent_id IS NOT NULL"),
            postgresql_where=text("parent_id IS NOT NULL"),
        ),
        # Never reuse the id of a deleted entry: ids live on in indexes, feeds and the match log.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"))
    signal_type: Mapped[str] = mapped_column(String(32))
    value: Mapped[bytes] = mapped_column(LargeBinary)
    value_key: Mapped[bytes] = mapped_column(LargeBinary)
    labels: Mapped[str] = mapped_column(String(1024), default="")
    source: Mapped[str] = mapped_column(String(255), default="")
    external_id: Mapped[str] = mapped_column(String(255), default="")
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_until: Mapped[datetime | None] = mapped_column(default=None)
    #: Variant rows only (revision 0003): what was hashed, and the entry it belongs to.
    variant: Mapped[str] = mapped_column(String(32), default="", server_default="")
    parent_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("bank_entries.id", ondelete="CASCADE"), default=None
    )

    bank: Mapped[Bank] = relationship(back_populates="entries", lazy="raise_on_sql")

    def __init__(self, **kwargs: Any) -> None:
        if "value" in kwargs and "value_key" not in kwargs:
            kwargs["value_key"] = value_key(kwargs["value"])
        super().__init__(**kwargs)

    @property
    def label_list(self) -> list[str]:
        return self.labels.split()

    @property
    def is_variant(self) -> bool:
        return self.parent_id is not None

    def is_active(self, now: datetime | None = None) -> bool:
        if self.disabled_until is None:
            return True
        return (now or utcnow()) >= self.disabled_until

    def __repr__(self) -> str:
        return (
            f"BankEntry(id={self.id!r}, bank_id={self.bank_id!r}, "
            f"signal_type={self.signal_type!r}, value={self.value.hex()[:16]}...)"
        )


class EntryChange(Base):
    """Append-only feed of changes that affect matching, in commit order.

    Written in the same transaction as the change itself. ``entry_id`` is NULL for a change to a
    whole bank (enabled toggled, thresholds changed, bank deleted): readers reload that bank.
    ``signal_type`` is kept so a reader can drop a deleted entry from the right index without
    looking it up (the entry row is gone).
    """

    __tablename__ = "entry_changes"
    __table_args__ = (
        CheckConstraint("op IN ('add', 'remove', 'update')", name="op"),
        # Never reuse a sequence number on SQLite, even after the newest rows are pruned.
        {"sqlite_autoincrement": True},
    )

    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    op: Mapped[str] = mapped_column(String(8))
    bank_id: Mapped[int] = mapped_column(Integer)
    entry_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    signal_type: Mapped[str | None] = mapped_column(String(32), default=None)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Content(Base):
    """One piece of media as the service saw it, with who posted it, where and when."""

    __tablename__ = "content"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    #: The service's own id for the content (upload id, file path in a scan).
    external_id: Mapped[str] = mapped_column(String(255), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="")  # image, video, other
    size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    format: Mapped[str] = mapped_column(String(32), default="")
    uploader: Mapped[str | None] = mapped_column(String(255), index=True, default=None)
    group_id: Mapped[str | None] = mapped_column(String(255), index=True, default=None)
    uploaded_at: Mapped[datetime | None] = mapped_column(default=None)
    uploader_ip: Mapped[str | None] = mapped_column(String(45), default=None)
    created_at: Mapped[datetime] = mapped_column(index=True, default=utcnow)

    signals: Mapped[list[ContentSignal]] = relationship(
        back_populates="content", passive_deletes=True, lazy="raise_on_sql"
    )


class ContentSignal(Base):
    """A hash of a piece of content, kept so new bank entries can be checked retroactively."""

    __tablename__ = "content_signals"
    __table_args__ = (Index(None, "signal_type", "value_key"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    content_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("content.id", ondelete="CASCADE"), index=True
    )
    signal_type: Mapped[str] = mapped_column(String(32))
    value: Mapped[bytes] = mapped_column(LargeBinary)
    value_key: Mapped[bytes] = mapped_column(LargeBinary)
    quality: Mapped[int | None] = mapped_column(SmallInteger, default=None)
    frame: Mapped[int | None] = mapped_column(BigInteger, default=None)
    variant: Mapped[str] = mapped_column(String(32), default="")

    content: Mapped[Content] = relationship(back_populates="signals", lazy="raise_on_sql")

    def __init__(self, **kwargs: Any) -> None:
        if "value" in kwargs and "value_key" not in kwargs:
            kwargs["value_key"] = value_key(kwargs["value"])
        super().__init__(**kwargs)


class MatchRecord(Base):
    """The match log: one row per bank entry a piece of content matched.

    Bank and entry ids are plain columns, not foreign keys: the log outlives deleted banks and
    entries (``bank_name`` keeps the name it had).
    """

    __tablename__ = "match_records"
    __table_args__ = (Index(None, "bank_id", "created_at"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    content_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("content.id", ondelete="SET NULL"), index=True, default=None
    )
    bank_id: Mapped[int] = mapped_column(Integer)
    bank_name: Mapped[str] = mapped_column(String(64), default="")
    entry_id: Mapped[int] = mapped_column(BigInteger, index=True)
    signal_type: Mapped[str] = mapped_column(String(32))
    distance: Mapped[int] = mapped_column(Integer)
    #: vPDQ only: shares (0-100) of query and entry frames that matched.
    query_percent: Mapped[float | None] = mapped_column(Float, default=None)
    target_percent: Mapped[float | None] = mapped_column(Float, default=None)
    cancelled_by_allow: Mapped[bool] = mapped_column(Boolean, default=False)
    allow_entry_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    created_at: Mapped[datetime] = mapped_column(index=True, default=utcnow)
    #: How it matched (revision 0003): the content's signal variant (``"trim"``, ``"rot90"``)
    #: and the bank entry's variant row (``"crop:8"``); ``""`` for plain hashes.
    query_variant: Mapped[str] = mapped_column(String(32), default="", server_default="")
    entry_variant: Mapped[str] = mapped_column(String(32), default="", server_default="")


# --------------------------------------------------------------------------------------------
# The service: API keys, the audit log, the action outbox and what its executors write.
# (Revision 0002; see jaga.api.keys, jaga.store.audit and jaga.actions.)

API_KEY_ROLES: Final = ("hasher", "curator", "reviewer", "admin")
ACTION_STATUSES: Final = ("pending", "running", "done", "failed", "dead")


class ApiKey(Base):
    """An API key: a name, a role, and the SHA-256 of its secret (the secret itself is never kept).

    ``prefix`` is the random, non-secret middle part of the token (``jaga_<prefix>_<secret>``):
    it finds the row in one indexed lookup, then the secret's digest is compared.
    """

    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint("role IN ('hasher', 'curator', 'reviewer', 'admin')", name="role"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_sha256: Mapped[bytes] = mapped_column(LargeBinary)
    rate_limit_per_s: Mapped[float | None] = mapped_column(Float, default=None)
    created_by: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_by: Mapped[str | None] = mapped_column(String(255), default=None)


class AuditEvent(Base):
    """One row of the append-only, hash-chained audit log (see :mod:`jaga.store.audit`).

    ``seq`` is assigned by the appender (previous + 1, under a lock), not by the database: a
    sequence would leave gaps on rollback, and a gap must mean "a row was deleted". Database
    triggers refuse UPDATE and DELETE on this table. ``details`` is canonical JSON text, kept
    as text so the bytes that were hashed are the bytes that are stored.
    """

    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "action", "seq"), Index(None, "target", "seq"))

    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(255), default="")
    details: Mapped[str] = mapped_column(Text, default="{}")
    #: Hex SHA-256 of the previous row's hash and this row's canonical bytes.
    hash: Mapped[str] = mapped_column(String(64))
    #: Hex HMAC-SHA256 of ``hash`` under JAGA_AUDIT_KEY, when a key is configured.
    mac: Mapped[str | None] = mapped_column(String(64), default=None)


class ActionRow(Base):
    """One action in the outbox: what a rule decided for a piece of content, until it is done.

    Written in the same transaction as the content and its match log, so a decision is never
    lost between "matched" and "acted on". ``next_attempt_at`` is when the row is next due for
    a worker: for a pending row, after its backoff; for a running row, when its lease ends (a
    worker killed mid-action leaves its rows due again). One index thus finds all due work.
    ``content_id`` is a plain column, not a foreign key: the outbox outlives content deleted
    under a retention policy. ``idempotency_key`` makes enqueueing the same decision twice a
    no-op.
    """

    __tablename__ = "actions"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'running', 'done', 'failed', 'dead')", name="status"
        ),
        Index(None, "status", "next_attempt_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    content_id: Mapped[int] = mapped_column(BigInteger, index=True)
    type: Mapped[str] = mapped_column(String(32))
    rule: Mapped[str] = mapped_column(String(128))
    target: Mapped[str] = mapped_column(String(1024), default="")
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    leased_by: Mapped[str | None] = mapped_column(String(128), default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(default=None)


class ReviewCase(Base):
    """A piece of content waiting for a person to look at it; one case per content.

    Minimal on purpose: the review queue (locking, decisions) builds on it.
    """

    __tablename__ = "review_cases"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    content_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    status: Mapped[str] = mapped_column(String(16), default="open")
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Report(Base):
    """A report to a clearinghouse, drafted by a rule and awaiting confirmation by a person.

    Minimal on purpose: the CyberTipline model and submission build on it.
    """

    __tablename__ = "reports"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    content_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """One attempt to deliver a webhook for an action, whatever its outcome.

    ``delivery_id`` is stable across the attempts of one action, so receivers can de-duplicate.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    action_id: Mapped[int] = mapped_column(BigInteger, index=True)
    url: Mapped[str] = mapped_column(String(2048))
    event: Mapped[str] = mapped_column(String(64))
    delivery_id: Mapped[str] = mapped_column(String(128), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    ok: Mapped[bool] = mapped_column(Boolean, default=False)
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    duration_ms: Mapped[float] = mapped_column(Float, default=0.0)
    at: Mapped[datetime] = mapped_column(default=utcnow)

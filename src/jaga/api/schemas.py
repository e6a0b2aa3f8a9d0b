"""Request and response models of the native API (``/v1``): what /openapi.json describes.

Models validate shape and size only; meaning (is this a PDQ hash, does the bank exist) is checked
by the library functions the routes call, so the CLI and the API reject the same things with the
same messages.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Decision = Literal["allow", "block", "review"]

#: Longest text the store keeps for ids and names given by the platform.
MAX_TEXT = 255


class ErrorDetail(BaseModel):
    type: str = Field(description="Error class, e.g. UnsupportedMedia, PermissionDenied.")
    message: str = Field(description="One line a person can act on.")
    line: int | None = Field(default=None, description="Import errors: 1-based line of the file.")
    column: int | str | None = Field(default=None, description="Import errors: the column.")


class ErrorBody(BaseModel):
    """Every 4xx/5xx answer has this shape."""

    error: ErrorDetail


# -- content -------------------------------------------------------------------------------------


class ContentContextIn(BaseModel):
    """Who posted a piece of content, where and when. Every field is optional."""

    model_config = ConfigDict(extra="forbid")

    content_id: str | None = Field(
        default=None, max_length=MAX_TEXT, description="The platform's own id for the content."
    )
    uploader: str | None = Field(
        default=None, max_length=MAX_TEXT, description="Account that posted it."
    )
    group_id: str | None = Field(
        default=None, max_length=MAX_TEXT, description="Group, chat or channel it was posted in."
    )
    uploaded_at: datetime | None = Field(
        default=None, description="When it was posted (ISO 8601; no zone means UTC)."
    )
    uploader_ip: str | None = Field(default=None, description="IPv4 or IPv6 address of the poster.")

    @field_validator("uploader_ip")
    @classmethod
    def _ip(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        try:
            return str(ipaddress.ip_address(value.strip()))
        except ValueError:
            raise ValueError(f"not an IP address: {value[:60]!r}") from None

    @field_validator("content_id", "uploader", "group_id")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value if value else None


class ContentSubmission(ContentContextIn):
    """``POST /v1/content`` as JSON or form fields: a URL to fetch (uploads send ``file``)."""

    url: str | None = Field(
        default=None,
        max_length=8192,
        description="http(s) URL of the media; fetched by the server (private addresses refused).",
    )


class MatchOut(BaseModel):
    """One bank entry the content matched."""

    bank: str
    entry_id: int
    signal_type: str
    distance: int = Field(description="Hamming distance (0 for exact digests).")
    variant: str = Field(
        description="How the content's pixels were prepared for the hash that matched: '' as "
        "is; an orientation (turn90, mirror, rot90...), crop:N, trim, trim_sym, frame, derot..."
    )
    entry_variant: str = Field(
        default="",
        description="The bank entry's variant hash that matched ('' = its own hash; crop:N, "
        "trim or square for entries added from media with variants).",
    )
    frame: int | None = Field(description="Frame of an animation or video that matched.")
    labels: list[str]
    query_percent: float | None = Field(
        default=None, description="vPDQ: share (0-100) of the content's frames that matched."
    )
    target_percent: float | None = Field(
        default=None, description="vPDQ: share (0-100) of the entry's frames that matched."
    )


class ActionOut(BaseModel):
    """An action rules decided; executed asynchronously by the outbox worker."""

    id: int
    type: str
    status: str


class ContentResult(BaseModel):
    """What happened to a submitted piece of content."""

    id: int = Field(description="Jaga's id of the content record (GET /v1/content/{id}).")
    content_id: str = Field(description="The platform's id as submitted.")
    decision: Decision = Field(description="allow, block or review, from the rules.")
    kind: str = Field(description="image or video.")
    format: str
    size: int
    matches: list[MatchOut]
    cancelled: list[MatchOut] = Field(
        description="Matches cancelled because the content is on an allow-list bank."
    )
    actions: list[ActionOut]
    signals: dict[str, list[str]] = Field(
        description="Hex hashes by signal type (PDQ: one per frame; vPDQ: one per sampled frame)."
    )


class HashResult(BaseModel):
    """Hashes of an upload, not matched and not stored."""

    kind: str
    format: str
    size: int
    width: int
    height: int
    frame_count: int
    signals: dict[str, list[str]] = Field(description="Hex hashes by signal type.")
    quality: dict[str, list[int]] = Field(description="PDQ/vPDQ quality (0-100) per hash.")
    entries: list[SignalIn] = Field(
        description="One value per signal type, as a bank entry takes it (vPDQ: all frames)."
    )


# -- match by hash -------------------------------------------------------------------------------


class SignalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    signal_type: str = Field(max_length=32, examples=["pdq"])
    hash: str = Field(
        max_length=8 * 2**20,
        description="Hex (PDQ 64 digits, MD5 32, SHA-1 40, SHA-256 64) or vPDQ text.",
    )


class MatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    signals: list[SignalIn] = Field(min_length=1, max_length=1000)
    banks: list[str] | None = Field(
        default=None, max_length=1000, description="Only these banks (default: every enabled)."
    )
    content: ContentContextIn | None = Field(
        default=None, description="Context of the content the hashes came from, if any."
    )
    record: bool = Field(
        default=False,
        description=(
            "True: store the content and its signals (for retroactive scans), log matches and "
            "enqueue the rules' actions. False: a lookup; matches are still logged, nothing "
            "is written when nothing matched."
        ),
    )


class MatchResponse(BaseModel):
    matches: list[MatchOut]
    cancelled: list[MatchOut]
    decision: Decision = Field(description="What the rules decide for these matches.")
    id: int | None = Field(
        default=None, description="Jaga's content id when anything was written (record or match)."
    )
    actions: list[ActionOut] | None = Field(
        default=None, description="Actions enqueued (record=true only)."
    )


# -- banks ---------------------------------------------------------------------------------------


class BankOut(BaseModel):
    name: str
    kind: Literal["known", "allow"]
    description: str
    enabled: bool
    thresholds: dict[str, int]
    created_at: datetime
    updated_at: datetime
    entries: dict[str, int] | None = Field(
        default=None, description="Entries per signal type (single-bank reads only)."
    )


class BankList(BaseModel):
    banks: list[BankOut]


class BankCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=64, examples=["ncmec-hashes"])
    kind: Literal["known", "allow"] = "known"
    thresholds: dict[str, int] = Field(
        default_factory=dict, description='Distance per signal type, e.g. {"pdq": 31}.'
    )
    description: str = Field(default="", max_length=10_000)
    enabled: bool = True


class BankUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    thresholds: dict[str, int] | None = None
    enabled: bool | None = None
    description: str | None = Field(default=None, max_length=10_000)


class BankDeleted(BaseModel):
    name: str
    entries: int = Field(description="How many entries were deleted with the bank.")


class EntryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    signal_type: str = Field(max_length=32)
    hash: str = Field(max_length=8 * 2**20)
    labels: list[str] | str = Field(default_factory=list, description='e.g. ["A1"] or "A1 B2".')
    source: str | None = Field(
        default=None, max_length=MAX_TEXT, description="Provenance (default: the API key)."
    )
    external_id: str = Field(default="", max_length=MAX_TEXT)
    disabled_until: datetime | None = None


class EntryBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entries: list[EntryIn] = Field(min_length=1, max_length=1000)


class EntryOut(BaseModel):
    id: int
    bank: str
    signal_type: str
    hash: str
    labels: list[str]
    source: str
    external_id: str
    added_at: datetime
    disabled_until: datetime | None
    active: bool


class EntryAdded(BaseModel):
    id: int
    created: bool = Field(description="False when the hash was in the bank already.")


class EntriesAdded(BaseModel):
    entries: list[EntryAdded]
    added: int
    duplicates: int


class EntryPageOut(BaseModel):
    entries: list[EntryOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null: end.")


class EntryDisable(BaseModel):
    model_config = ConfigDict(extra="forbid")

    until: datetime | None = Field(
        default=None, description="Disabled until then (future); omitted: until enabled again."
    )


class EntryDeleted(BaseModel):
    id: int


class ImportResult(BaseModel):
    bank: str
    format: str
    source: str
    records: int
    added: int
    duplicates: int
    removed: int
    skipped: dict[str, int] = Field(description="Records the format carried but Jaga cannot use.")


# -- logs ----------------------------------------------------------------------------------------


class MatchLogOut(BaseModel):
    id: int
    content: int | None = Field(description="Jaga's content id (GET /v1/content/{id}).")
    content_id: str | None = Field(description="The platform's content id.")
    bank: str
    entry_id: int
    signal_type: str
    distance: int
    query_percent: float | None
    target_percent: float | None
    cancelled_by_allow: bool
    created_at: datetime


class MatchLogPage(BaseModel):
    matches: list[MatchLogOut]
    next_cursor: str | None


class ContentSignalOut(BaseModel):
    signal_type: str
    hash: str
    quality: int | None
    frame: int | None
    variant: str


class ContentOut(BaseModel):
    id: int
    content_id: str
    kind: str
    format: str
    size: int | None
    uploader: str | None
    group_id: str | None
    uploaded_at: datetime | None
    uploader_ip: str | None
    created_at: datetime
    signals: list[ContentSignalOut]
    matches: list[MatchLogOut]
    actions: list[ActionDetail]


class ActionDetail(BaseModel):
    id: int
    type: str
    status: str
    content: int | None = Field(default=None, description="Jaga's content id.")
    attempts: int | None = None
    last_error: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    details: dict[str, Any] = Field(
        default_factory=dict, description="Everything else the outbox keeps for the action."
    )


class ActionPage(BaseModel):
    actions: list[ActionDetail]
    next_cursor: str | None


class AuditEventOut(BaseModel):
    id: int
    at: datetime | None
    actor: str
    action: str
    target: str
    details: dict[str, Any] | None


class AuditPage(BaseModel):
    events: list[AuditEventOut]
    next_cursor: str | None


ContentOut.model_rebuild()
HashResult.model_rebuild()

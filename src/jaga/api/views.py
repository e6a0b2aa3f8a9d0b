"""Store rows -> response models: one place that decides what a client sees of each row."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from jaga.api.schemas import ActionDetail, BankOut, EntryOut, MatchLogOut
from jaga.api.submission import action_fields
from jaga.signals.registry import get_signal_type
from jaga.store.models import Bank, BankEntry, MatchRecord
from jaga.store.types import utcnow

_ACTION_COLUMNS = {
    "id",
    "type",
    "status",
    "content_id",
    "attempts",
    "last_error",
    "created_at",
    "updated_at",
}


def bank_out(bank: Bank, counts: dict[str, int] | None = None) -> BankOut:
    return BankOut(
        name=bank.name,
        kind=bank.kind,  # type: ignore[arg-type]
        description=bank.description or "",
        enabled=bank.enabled,
        thresholds=dict(bank.thresholds or {}),
        created_at=bank.created_at,
        updated_at=bank.updated_at,
        entries=counts,
    )


def entry_out(entry: BankEntry, bank_name: str) -> EntryOut:
    now = utcnow()
    return EntryOut(
        id=entry.id,
        bank=bank_name,
        signal_type=entry.signal_type,
        hash=get_signal_type(entry.signal_type).format(entry.value),
        labels=entry.labels.split(),
        source=entry.source,
        external_id=entry.external_id,
        added_at=entry.added_at,
        disabled_until=entry.disabled_until,
        active=entry.is_active(now),
    )


def match_log_out(record: MatchRecord, external_id: str | None) -> MatchLogOut:
    return MatchLogOut(
        id=record.id,
        content=record.content_id,
        content_id=external_id,
        bank=record.bank_name,
        entry_id=record.entry_id,
        signal_type=record.signal_type,
        distance=record.distance,
        query_percent=record.query_percent,
        target_percent=record.target_percent,
        cancelled_by_allow=record.cancelled_by_allow,
        created_at=record.created_at,
    )


def _plain(value: Any) -> Any:
    """A JSON-ready version of a value the outbox keeps (dates as ISO text, JSON text parsed)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def action_detail(item: Any) -> ActionDetail:
    values = action_fields(item)
    content = values.get("content_id")
    return ActionDetail(
        id=int(values["id"]),
        type=str(values.get("type", "")),
        status=str(values.get("status", "")),
        content=int(content) if content is not None else None,
        attempts=values.get("attempts"),
        last_error=values.get("last_error"),
        created_at=values.get("created_at"),
        updated_at=values.get("updated_at"),
        details={k: _plain(v) for k, v in values.items() if k not in _ACTION_COLUMNS},
    )

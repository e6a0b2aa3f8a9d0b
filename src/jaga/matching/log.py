"""Writing what matching found: the content, its signals and one match-log row per match.

Everything goes in the caller's transaction so a content row never exists without its matches
(or the reverse). Signals are kept so that content can be re-checked when new hashes arrive.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from jaga.matching.types import Match, MatchOutcome
from jaga.signals.base import Signal
from jaga.store.models import BankEntry, Content, ContentSignal, MatchRecord


@dataclass(frozen=True)
class ContentContext:
    """Who posted a piece of content, where and when (all optional for file scans)."""

    external_id: str
    kind: str = ""
    size: int | None = None
    format: str = ""
    uploader: str | None = None
    group_id: str | None = None
    uploaded_at: datetime | None = None
    uploader_ip: str | None = None


@dataclass(frozen=True)
class EntryDetails:
    labels: tuple[str, ...]
    external_id: str
    source: str


def record_content(
    session: Session,
    context: ContentContext,
    signals: Iterable[Signal],
    outcome: MatchOutcome | None = None,
) -> Content:
    """Insert the content, its signals and its matches; returns the content row (with its id)."""
    content = Content(
        external_id=context.external_id,
        kind=context.kind,
        size=context.size,
        format=context.format,
        uploader=context.uploader,
        group_id=context.group_id,
        uploaded_at=context.uploaded_at,
        uploader_ip=context.uploader_ip,
    )
    session.add(content)
    session.flush()
    session.add_all(
        ContentSignal(
            content_id=content.id,
            signal_type=s.signal_type,
            value=s.value,
            quality=s.quality,
            frame=s.frame,
            variant=s.variant,
        )
        for s in signals
    )
    if outcome is not None:
        allow_entry = outcome.allowed[0].entry_id if outcome.allowed else None
        rows = [_record(content.id, m, cancelled=False) for m in outcome.matches]
        rows += [
            _record(content.id, m, cancelled=True, allow_entry=allow_entry)
            for m in outcome.cancelled
        ]
        rows += [_record(content.id, m, cancelled=False) for m in outcome.allowed]
        session.add_all(rows)
    session.flush()
    return content


def _record(
    content_id: int, match: Match, *, cancelled: bool, allow_entry: int | None = None
) -> MatchRecord:
    return MatchRecord(
        content_id=content_id,
        bank_id=match.bank_id,
        bank_name=match.bank_name,
        entry_id=match.entry_id,
        signal_type=match.signal_type,
        distance=match.distance,
        query_percent=match.query_percent,
        target_percent=match.target_percent,
        cancelled_by_allow=cancelled,
        allow_entry_id=allow_entry,
        query_variant=match.query.variant,
        entry_variant=match.entry_variant,
    )


def entry_details(session: Session, entry_ids: Sequence[int]) -> dict[int, EntryDetails]:
    """Labels, external id and source of matched entries (a handful per content).

    Matches name entries, never variant rows (:attr:`Match.entry_variant` says which variant
    matched), so these are the entry's own details.
    """
    if not entry_ids:
        return {}
    rows = session.execute(
        select(BankEntry.id, BankEntry.labels, BankEntry.external_id, BankEntry.source).where(
            BankEntry.id.in_(sorted(set(entry_ids)))
        )
    )
    return {
        row.id: EntryDetails(tuple(row.labels.split()), row.external_id, row.source) for row in rows
    }

"""Read-only queries of the match log and of content (keyset pages, newest first)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from jaga.store.models import Content, ContentSignal, MatchRecord


def match_page(
    session: Session,
    *,
    bank: str | None = None,
    content_id: str | None = None,
    since: datetime | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[tuple[MatchRecord, str | None]]:
    """Match-log rows, newest first, each with the platform's content id."""
    query = (
        select(MatchRecord, Content.external_id)
        .outerjoin(Content, Content.id == MatchRecord.content_id)
        .order_by(MatchRecord.id.desc())
        .limit(limit)
    )
    if bank is not None:
        query = query.where(MatchRecord.bank_name == bank)
    if content_id is not None:
        query = query.where(Content.external_id == content_id)
    if since is not None:
        query = query.where(MatchRecord.created_at >= since)
    if before_id is not None:
        query = query.where(MatchRecord.id < before_id)
    return [(row[0], row[1]) for row in session.execute(query).all()]


def content_matches(session: Session, content_id: int) -> Sequence[MatchRecord]:
    return (
        session.execute(
            select(MatchRecord).where(MatchRecord.content_id == content_id).order_by(MatchRecord.id)
        )
        .scalars()
        .all()
    )


def content_signals(session: Session, content_id: int) -> Sequence[ContentSignal]:
    return (
        session.execute(
            select(ContentSignal)
            .where(ContentSignal.content_id == content_id)
            .order_by(ContentSignal.id)
        )
        .scalars()
        .all()
    )

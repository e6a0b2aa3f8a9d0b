"""What happened: the match log, the actions outbox (including dead letters) and the audit log.

All listings are keyset pages with an opaque ``next_cursor``: stable while rows are added and
O(page) however deep the client reads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from fastapi import APIRouter, Depends, Path, Query, Request

from jaga.actions import outbox
from jaga.api.cursors import decode_cursor, encode_cursor
from jaga.api.deps import actor, get_context, permission
from jaga.api.schemas import (
    ActionDetail,
    ActionPage,
    AuditEventOut,
    AuditPage,
    ErrorBody,
    MatchLogPage,
)
from jaga.api.views import action_detail, match_log_out
from jaga.store import audit
from jaga.store.repo_log import match_page

router = APIRouter(tags=["logs"])

LIMIT: Final = Query(100, ge=1, le=1000, description="Page size.")
CURSOR: Final = Query(None, description="next_cursor of the previous page.")


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorBody} for code in codes}


@router.get("/v1/matches", response_model=MatchLogPage, responses=_errors(401, 403, 422, 429))
def list_matches(
    request: Request,
    bank: str | None = Query(None, description="Only matches in this bank (by name)."),
    content_id: str | None = Query(None, description="Only matches of this platform content id."),
    since: datetime | None = Query(None, description="Only matches logged at or after this."),
    cursor: str | None = CURSOR,
    limit: int = LIMIT,
    _principal: Any = Depends(permission("matches:read")),
) -> MatchLogPage:
    """The match log, newest first (including matches cancelled by an allow-list)."""
    before = decode_cursor("matches", cursor)
    with get_context(request).db.session() as session:
        rows = match_page(
            session,
            bank=bank,
            content_id=content_id,
            since=since,
            before_id=before,
            limit=limit,
        )
        matches = [match_log_out(record, external) for record, external in rows]
    next_cursor = encode_cursor("matches", matches[-1].id) if len(matches) == limit else None
    return MatchLogPage(matches=matches, next_cursor=next_cursor)


@router.get("/v1/actions", response_model=ActionPage, responses=_errors(401, 403, 422, 429))
def list_actions(
    request: Request,
    status: str | None = Query(
        None, description="pending, running, done, failed or dead (dead-lettered)."
    ),
    type: str | None = Query(None, description="block, remove, review, report, webhook, ..."),
    content_id: int | None = Query(
        None, description="Only actions for this content (Jaga's id, the `id` of a submission)."
    ),
    cursor: str | None = CURSOR,
    limit: int = LIMIT,
    _principal: Any = Depends(permission("actions:read")),
) -> ActionPage:
    """Actions in the outbox, oldest first, with their attempts and last error."""
    after = decode_cursor("actions", cursor) or 0
    with get_context(request).db.session() as session:
        rows = outbox.list_actions(
            session,
            status=status,
            type=type,
            content_id=content_id,
            after_id=after,
            limit=limit,
        )
        actions = [action_detail(row) for row in rows]
    next_cursor = encode_cursor("actions", actions[-1].id) if len(actions) == limit else None
    return ActionPage(actions=actions, next_cursor=next_cursor)


@router.post(
    "/v1/actions/{action_id}/retry",
    response_model=ActionDetail,
    responses=_errors(401, 403, 404, 422, 429),
)
def retry_action(
    request: Request,
    action_id: int = Path(description="Action id."),
    principal: Any = Depends(permission("actions:write")),
) -> ActionDetail:
    """Requeue a dead or failed action with a fresh set of attempts (audited)."""
    with get_context(request).db.session(immediate=True) as session:
        outbox.retry_dead(session, action_id, actor=actor(principal))
        return action_detail(outbox.get_action(session, action_id))


@router.get("/v1/audit", response_model=AuditPage, responses=_errors(401, 403, 422, 429))
def list_audit(
    request: Request,
    action: str | None = Query(None, description="e.g. bank.create, content.view, key.revoke."),
    target: str | None = Query(None, description="e.g. bank:ncmec, content:42, key:ingest."),
    cursor: str | None = CURSOR,
    limit: int = LIMIT,
    _principal: Any = Depends(permission("audit:read")),
) -> AuditPage:
    """The append-only audit log, oldest first: who changed what, who viewed which content."""
    after = decode_cursor("audit", cursor) or 0
    with get_context(request).db.session() as session:
        records = audit.list_events(
            session, after_seq=after, limit=limit, action=action, target=target
        )
    events = [
        AuditEventOut(
            id=r.seq,
            at=r.at,
            actor=r.actor,
            action=r.action,
            target=r.target,
            details=r.details,
        )
        for r in records
    ]
    next_cursor = encode_cursor("audit", events[-1].id) if len(events) == limit else None
    return AuditPage(events=events, next_cursor=next_cursor)

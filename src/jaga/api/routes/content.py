"""Content in: ``POST /v1/content`` (hash, match, record, act), ``POST /v1/hash`` (hash only), and
``GET /v1/content/{id}`` (what Jaga knows of a piece of content; every read is audited).

Media arrives as a multipart upload (field ``file``), a raw body, or a URL the server fetches
(SSRF-checked, see :mod:`jaga.api.url_fetch`). The bytes are hashed in a worker thread and never
stored.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from jaga.actions import outbox
from jaga.api.context import ServiceContext
from jaga.api.deps import actor, get_context, permission
from jaga.api.schemas import (
    ActionDetail,
    ContentOut,
    ContentResult,
    ContentSignalOut,
    ContentSubmission,
    ErrorBody,
    HashResult,
    SignalIn,
)
from jaga.api.submission import process, signal_hex
from jaga.api.uploads import Body, InvalidRequest, parse_model, read_body
from jaga.api.url_fetch import fetch_url_async
from jaga.api.views import action_detail, match_log_out
from jaga.errors import NotFound
from jaga.matching.log import ContentContext
from jaga.signals.hashing import ContentHashes, hash_bytes
from jaga.signals.registry import get_signal_type
from jaga.store import audit
from jaga.store.models import Content
from jaga.store.repo_log import content_matches, content_signals

router = APIRouter(tags=["content"])

_CONTEXT_FIELDS = ("content_id", "uploader", "group_id", "uploaded_at", "uploader_ip")


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorBody} for code in codes}


def _request_body(model: type[ContentSubmission] | None) -> dict[str, Any]:
    """OpenAPI for a body the route reads itself (so it can enforce the size limit)."""
    fields: dict[str, Any] = {}
    if model is not None:
        fields = dict(model.model_json_schema()["properties"])
    multipart = {
        "type": "object",
        "properties": {
            "file": {
                "type": "string",
                "format": "binary",
                "description": "The media (image or video).",
            },
            **fields,
        },
    }
    content: dict[str, Any] = {
        "multipart/form-data": {"schema": multipart},
        "application/octet-stream": {
            "schema": {"type": "string", "format": "binary"},
            "description": "Raw media body (also image/*, video/*); context in the query.",
        },
    }
    if model is not None:
        content["application/json"] = {"schema": model.model_json_schema()}
    return {"requestBody": {"required": True, "content": content}}


def _media(body: Body) -> bytes | None:
    part = body.files.get("file") or body.raw
    return None if part is None else part.data


def _hash(service: ServiceContext, data: bytes) -> ContentHashes:
    return hash_bytes(data, service.hash_options)


def _context(submission: ContentSubmission, hashes: ContentHashes) -> ContentContext:
    external = submission.content_id
    if external is None:
        sha256 = hashes.of_type("sha256")
        external = f"sha256:{sha256[0].hex}" if sha256 else ""
    return ContentContext(
        external_id=external,
        kind=hashes.kind,
        size=hashes.size,
        format=hashes.format,
        uploader=submission.uploader,
        group_id=submission.group_id,
        uploaded_at=submission.uploaded_at,
        uploader_ip=submission.uploader_ip,
    )


def _submit(service: ServiceContext, data: bytes, submission: ContentSubmission) -> ContentResult:
    hashes = _hash(service, data)
    context = _context(submission, hashes)
    done = process(service, hashes.signals, context, record=True)
    assert done.content_id is not None
    return ContentResult(
        id=done.content_id,
        content_id=context.external_id,
        decision=done.decision,  # type: ignore[arg-type]
        kind=hashes.kind,
        format=hashes.format,
        size=hashes.size,
        matches=done.matches(),
        cancelled=done.cancelled(),
        actions=done.actions,
        signals=signal_hex(hashes.signals),
    )


@router.post(
    "/v1/content",
    response_model=ContentResult,
    summary="Submit content: hash, match, record and act",
    openapi_extra=_request_body(ContentSubmission),
    responses=_errors(401, 403, 413, 415, 422, 429, 502),
)
async def submit_content(
    request: Request,
    content_id: str | None = Query(None, description="Raw-body uploads: the platform's id."),
    uploader: str | None = Query(None, description="Raw-body uploads: the posting account."),
    group_id: str | None = Query(None, description="Raw-body uploads: the group or chat."),
    uploaded_at: str | None = Query(None, description="Raw-body uploads: when (ISO 8601)."),
    uploader_ip: str | None = Query(None, description="Raw-body uploads: poster's IP."),
    _principal: Any = Depends(permission("match")),
) -> ContentResult:
    """Hash the media (upload or URL), match it against every enabled bank, and in one
    transaction record the content and its hashes (not the bytes), log the matches and enqueue
    the actions the rules decide. ``decision`` says what the platform should do now.
    """
    service = get_context(request)
    limit = service.config.max_upload_bytes
    body = await read_body(request, file_limits={"file": limit}, raw_limit=limit)
    fields = {k: v for k, v in request.query_params.items() if k in _CONTEXT_FIELDS}
    for name, value in body.fields.items():
        if name in fields and fields[name] != value:
            raise InvalidRequest(f"{name} is given both in the query and in the body")
        fields[name] = value
    submission = parse_model(ContentSubmission, fields)
    data = _media(body)
    if data is not None and submission.url:
        raise InvalidRequest("send either a file or a url, not both")
    if data is None:
        if not submission.url:
            raise InvalidRequest("send the media as multipart field 'file', as the body, or a url")
        fetched = await fetch_url_async(submission.url, service.fetch_policy)
        data = fetched.data
    return await run_in_threadpool(_submit, service, data, submission)


def _hash_result(hashes: ContentHashes) -> HashResult:
    quality: dict[str, list[int]] = {}
    for signal in hashes.signals:
        if signal.quality is not None and not signal.variant:
            quality.setdefault(signal.signal_type, []).append(signal.quality)
    entries: list[SignalIn] = []
    for name in dict.fromkeys(s.signal_type for s in hashes.signals):
        if name == "vpdq":
            value = hashes.vpdq_value()
            if value is not None:
                entries.append(SignalIn(signal_type=name, hash=get_signal_type(name).format(value)))
            continue
        first = next(s for s in hashes.signals if s.signal_type == name and not s.variant)
        entries.append(SignalIn(signal_type=name, hash=first.value.hex()))
    return HashResult(
        kind=hashes.kind,
        format=hashes.format,
        size=hashes.size,
        width=hashes.width,
        height=hashes.height,
        frame_count=hashes.frame_count,
        signals=signal_hex(hashes.signals),
        quality=quality,
        entries=entries,
    )


@router.post(
    "/v1/hash",
    response_model=HashResult,
    summary="Hash media without matching or storing anything",
    openapi_extra=_request_body(None),
    responses=_errors(401, 403, 413, 415, 422, 429),
)
async def hash_content(
    request: Request, _principal: Any = Depends(permission("hash"))
) -> HashResult:
    """PDQ (per frame), vPDQ (video) and MD5/SHA-1/SHA-256 of an upload. ``entries`` holds one
    value per signal type in the form ``POST /v1/banks/{name}/entries`` takes."""
    service = get_context(request)
    limit = service.config.max_upload_bytes
    body = await read_body(request, file_limits={"file": limit}, raw_limit=limit)
    if body.fields:
        raise InvalidRequest(f"unexpected field {next(iter(body.fields))!r}: send only 'file'")
    data = _media(body)
    if data is None:
        raise InvalidRequest("send the media as multipart field 'file' or as the body")
    hashes = await run_in_threadpool(_hash, service, data)
    return _hash_result(hashes)


class UnknownContent(NotFound):
    """No content record has this id."""


def _read_content(service: ServiceContext, content_id: int, who: str) -> ContentOut:
    with service.db.session(immediate=True) as session:
        row = session.get(Content, content_id)
        if row is None:
            raise UnknownContent(f"no content with id {content_id}")
        signals = [
            ContentSignalOut(
                signal_type=s.signal_type,
                hash=get_signal_type(s.signal_type).format(s.value),
                quality=s.quality,
                frame=s.frame,
                variant=s.variant,
            )
            for s in content_signals(session, content_id)
        ]
        matches = [match_log_out(m, row.external_id) for m in content_matches(session, content_id)]
        actions: list[ActionDetail] = [
            action_detail(a) for a in outbox.list_actions(session, content_id=content_id)
        ]
        audit.append(
            session,
            actor=who,
            action="content.view",
            target=f"content:{content_id}",
            details={"content_id": row.external_id},
        )
        return ContentOut(
            id=row.id,
            content_id=row.external_id,
            kind=row.kind,
            format=row.format,
            size=row.size,
            uploader=row.uploader,
            group_id=row.group_id,
            uploaded_at=row.uploaded_at,
            uploader_ip=row.uploader_ip,
            created_at=row.created_at,
            signals=signals,
            matches=matches,
            actions=actions,
        )


@router.get(
    "/v1/content/{content_id}",
    response_model=ContentOut,
    summary="What Jaga knows of a piece of content (audited)",
    responses=_errors(401, 403, 404, 429),
)
def get_content(
    request: Request,
    content_id: int = Path(description="Jaga's content id (the `id` of a submission)."),
    principal: Any = Depends(permission("content:view")),
) -> ContentOut:
    """Context, hashes, matches and actions of a piece of content. The read is recorded in the
    audit log as a view of that content by the caller's key."""
    return _read_content(get_context(request), content_id, actor(principal))

"""``POST /v1/match``: match hashes computed elsewhere (on a device, by another service).

The hot path of the service, so it avoids every avoidable cost:

* A lookup that matches nothing touches no database: the key comes from the auth cache, the
  banks from the matcher's in-memory catalogue, the answer from the index.
* The index search runs on the event loop. It takes about 0.1 ms for one PDQ hash against a
  million entries, less than a hand-off to FastAPI's thread pool costs (measured: ~0.3 ms of
  CPU per request); a plain ``def`` route would pay that hand-off twice (the endpoint, then
  the validation of its result). Long vPDQ texts are parsed and searched in the pool instead,
  and so is every database write (a match to log, a recorded submission). While the matcher
  applies an index update it holds readers off, wherever they run: updates must stay short.
* The answer is serialized once, by its Pydantic model; a miss is a constant.
* :mod:`jaga.api.fastpath` serves well-formed requests without FastAPI's routing and
  dependency machinery, through the same :func:`answer`; this route documents the API and
  answers everything else (errors included), so both give the same responses.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from jaga.api.context import ServiceContext
from jaga.api.deps import get_context, permission
from jaga.api.schemas import ContentContextIn, ErrorBody, MatchRequest, MatchResponse, SignalIn
from jaga.api.submission import bank_ids, write_outcome
from jaga.errors import JagaError
from jaga.matching.log import ContentContext
from jaga.signals import vpdq
from jaga.signals.base import Signal
from jaga.signals.registry import get_signal_type

router = APIRouter(tags=["match"])

#: Hash text up to this length is parsed and searched on the event loop (see the module doc).
INLINE_TEXT: Final = 64 * 1024
#: The answer to a lookup that matched nothing, serialized once.
_NO_MATCH = MatchResponse(matches=[], cancelled=[], decision="allow").model_dump_json().encode()


def parse_signals(items: list[SignalIn]) -> list[Signal]:
    """Hash text -> signals; a vPDQ value becomes one signal per frame, as hashing makes them."""
    signals: list[Signal] = []
    for position, item in enumerate(items):
        try:
            st = get_signal_type(item.signal_type)
            value = st.parse(item.hash)
            frames = vpdq.unpack(value) if st.name == "vpdq" else None
        except JagaError as error:
            raise type(error)(f"signals[{position}]: {error}") from None
        if frames is None:
            signals.append(Signal(st.name, value))
        else:
            signals.extend(Signal("vpdq", f.hash, f.quality, f.frame, f.timestamp) for f in frames)
    return signals


def _content_context(
    given: ContentContextIn | None, signals: list[Signal], record: bool
) -> ContentContext:
    given = given or ContentContextIn()
    kinds = {s.signal_type for s in signals}
    kind = "video" if "vpdq" in kinds else "image" if "pdq" in kinds else ""
    return ContentContext(
        external_id=given.content_id or "",
        kind=kind if record else "lookup",
        uploader=given.uploader,
        group_id=given.group_id,
        uploaded_at=given.uploaded_at,
        uploader_ip=given.uploader_ip,
    )


def _lookup(service: ServiceContext, signals: list[Signal], names: list[str] | None) -> Any:
    """The index search (and the bank names it is limited to), under the matcher's read lock."""
    return service.matcher.match(signals, bank_ids=bank_ids(service, names))


async def answer(service: ServiceContext, body: MatchRequest) -> bytes:
    """The JSON answer to a match request (shared by the route and :mod:`jaga.api.fastpath`)."""
    if sum(len(item.hash) for item in body.signals) <= INLINE_TEXT:
        signals = parse_signals(body.signals)
        outcome = _lookup(service, signals, body.banks)
    else:  # long vPDQ texts: parsing them would hold up the event loop
        signals = await run_in_threadpool(parse_signals, body.signals)
        outcome = await run_in_threadpool(_lookup, service, signals, body.banks)
    if not body.record and not outcome.all():
        return _NO_MATCH
    context = _content_context(body.content, signals, body.record)
    done = await run_in_threadpool(
        write_outcome, service, signals, context, outcome, record=body.record
    )
    return (
        MatchResponse(
            matches=done.matches(),
            cancelled=done.cancelled(),
            decision=done.decision,  # type: ignore[arg-type]
            id=done.content_id,
            actions=done.actions if body.record else None,
        )
        .model_dump_json()
        .encode()
    )


@router.post(
    "/v1/match",
    response_model=MatchResponse,
    summary="Match hashes against the banks",
    responses={code: {"model": ErrorBody} for code in (401, 403, 404, 422, 429)},
)
async def match_hashes(
    body: MatchRequest, request: Request, _principal: Any = Depends(permission("match"))
) -> Response:
    """Every bank entry within its bank's threshold of any of the hashes. With ``record``, the
    content is stored like an upload (its hashes kept for retroactive scans) and the rules'
    actions are enqueued; without it this is a lookup that writes only if something matched
    (every match is logged)."""
    content = await answer(get_context(request), body)
    return Response(content=content, media_type="application/json")

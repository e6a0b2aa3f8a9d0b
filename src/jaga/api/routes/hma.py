"""Meta HMA 2.0 ("OpenMediaMatch") routes, so clients written for HMA work unchanged.

``/h`` hashes, ``/m`` matches, ``/c`` curates banks, ``/status`` says whether the index is
ready -- the same paths, parameters, JSON shapes, status codes and ``{"message": ...}`` error
bodies as HMA. Every difference (API keys, URL fetching that refuses private addresses, bank
names, what is not implemented) is listed in docs/api.md, "HMA-compatible API". The logic lives
in ``jaga.api.hma_*``; these functions parse, check the key, and call it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from jaga.api import hma_content as hc
from jaga.api.context import ServiceContext
from jaga.api.deps import get_context, permission
from jaga.api.errors import RequestTooLarge
from jaga.api.hma_http import (
    BankCreate,
    BankUpdate,
    ContentMetadata,
    HashQuery,
    HmaError,
    HmaRoute,
    HmaValidationError,
    LookupQuery,
    RawLookupQuery,
    validate,
)
from jaga.api.hma_lookup import (
    by_bank,
    by_signal_type,
    find_matches,
    of_type,
    query_signals,
    record,
    search,
)
from jaga.api.hma_media import (
    CONTENT_TYPES,
    HmaHashes,
    check_content_type,
    content_type_from_header,
    hash_media,
    select_types,
)
from jaga.api.hma_signals import (
    HMA_TO_JAGA,
    compare,
    distance_text,
    format_value,
    hma_name,
    jaga_name,
    parse_value,
)
from jaga.api.routes.banks import audit_bank
from jaga.api.uploads import read_limited
from jaga.api.url_fetch import FetchFailed, FetchRefused, FetchTooLarge, fetch_url_async
from jaga.errors import JagaError
from jaga.signals.base import Signal
from jaga.store.models import Bank

router = APIRouter(route_class=HmaRoute, tags=["hma"])

T = TypeVar("T")

#: HMA's limit on a note's length.
MAX_NOTE = 255
#: Metadata larger than this (as JSON) is audited by size only.
MAX_AUDITED_METADATA = 4096
#: JSON bodies up to this size (a long video's vPDQ text can run to megabytes).
MAX_JSON = 8 * 2**20
#: What a multipart body may hold beyond its file (boundaries, headers, metadata, note).
FORM_SLACK = 256 * 1024
#: An index this long without a successful sync is reported stale (HMA's default, seconds).
STALE_AFTER_S = 65.0

_hash = permission("hash", hma=True)
_match = permission("match", hma=True)
_read = permission("banks:read", hma=True)
_write = permission("banks:write", hma=True)


# -- helpers -------------------------------------------------------------------------------------


async def _service(request: Request) -> ServiceContext:
    """The service context. Async on purpose: FastAPI runs a plain ``def`` dependency in the
    thread pool, a hand-off that costs more than the rest of a hash look-up."""
    return get_context(request)


async def _in_session(
    context: ServiceContext, work: Callable[[Session], T], *, write: bool = False
) -> T:
    """Run ``work`` in one transaction in a worker thread (the database calls block).

    A write takes SQLite's write lock up front, and this process's index applies the change
    before the response leaves, so a look-up right after an add sees it.
    """

    def run() -> T:
        with context.db.session(immediate=write) as session:
            result = work(session)
        if write:
            context.matcher.sync()
        return result

    return await run_in_threadpool(run)


def _audit(session: Session, principal: Any, action: str, bank: str, **details: Any) -> None:
    audit_bank(session, principal, action, bank, via="hma", **details)


async def _body(request: Request, limit: int) -> bytes:
    """The whole body, streamed under ``limit`` (HMA's 413 above it, declared or not)."""
    try:
        return await read_limited(request, limit, "request body")
    except RequestTooLarge:
        raise HmaError(413, "Content too large") from None


async def _json_body(request: Request) -> Any:
    """The JSON body (None when empty); HMA's 400 when it is not JSON."""
    raw = await _body(request, MAX_JSON)
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise HmaError(
            400, "The browser (or proxy) sent a request that this server could not understand."
        ) from None


def _banks_param(value: str | None) -> set[str] | None:
    return set(value.split(",")) if value else None


@dataclass
class _Form:
    """A multipart body, read: its files as (field name, bytes) and its text fields."""

    files: list[tuple[str, bytes]]
    fields: dict[str, str]


async def _form(context: ServiceContext, request: Request) -> _Form | None:
    """The multipart form of the request (None if it is not one), read under the upload limit.

    The body is read with a limit first, then parsed from memory: Starlette's own form parser
    would spool a body of any size to disk before anything could refuse it.
    """
    if "multipart/form-data" not in request.headers.get("content-type", ""):
        return None
    cached: _Form | None = getattr(request.state, "hma_form", None)
    if cached is not None:
        return cached
    data = await _body(request, context.config.max_upload_bytes + FORM_SLACK)

    async def replay() -> dict[str, Any]:
        return {"type": "http.request", "body": data, "more_body": False}

    parsed = await Request(request.scope, replay).form(max_files=8, max_fields=64)
    try:
        files: list[tuple[str, bytes]] = []
        fields: dict[str, str] = {}
        for key, value in parsed.multi_items():
            if isinstance(value, UploadFile):
                files.append((key, await value.read()))
            else:
                fields.setdefault(key, value)
    finally:
        await parsed.close()
    form = _Form(files, fields)
    request.state.hma_form = form
    return form


async def _uploaded(context: ServiceContext, request: Request) -> tuple[str, bytes] | None:
    """The one uploaded file of a multipart request: (its field name, its bytes), or None."""
    form = await _form(context, request)
    if form is None or not form.files:
        return None
    if len(form.files) > 1:
        raise HmaError(400, "Only one file allowed per request")
    field, data = form.files[0]
    if len(data) > context.config.max_upload_bytes:
        raise HmaError(413, "Content too large")
    return field, data


async def _hash_upload(
    context: ServiceContext, request: Request, types: str | None, *, purpose: str
) -> HmaHashes:
    upload = await _uploaded(context, request)
    if upload is None:
        raise HmaError(400, "Missing multipart/form-data file upload")
    field, data = upload
    hma_types = select_types(check_content_type(field), types)
    return await run_in_threadpool(
        lambda: hash_media(data, hma_types, context.hash_options, purpose=purpose)
    )


async def _hash_url(
    context: ServiceContext,
    url: str,
    content_type: str | None,
    types: str | None,
    *,
    purpose: str,
    bank_variants: bool = False,
) -> HmaHashes:
    """Fetch ``url`` (public addresses only, see jaga.api.url_fetch) and hash what came back."""
    if content_type:
        check_content_type(content_type)
    try:
        fetched = await fetch_url_async(url, context.fetch_policy)
    except FetchRefused as error:
        raise HmaError(400, f"Invalid or unsafe URL provided: {error}") from None
    except FetchTooLarge:
        raise HmaError(413, "Content too large") from None
    except FetchFailed as error:
        raise HmaError(400, f"Failed to fetch URL: {error}") from None
    kind = content_type or content_type_from_header(fetched.content_type, fetched.data)
    hma_types = select_types(kind, types)
    return await run_in_threadpool(
        lambda: hash_media(
            fetched.data,
            hma_types,
            context.hash_options,
            purpose=purpose,
            bank_variants=bank_variants,
        )
    )


def _signal_of(signal_type: str, signal: str) -> tuple[str, list[Signal]]:
    """HMA's checks of a (signal_type, signal) pair: the Jaga type and the query signals."""
    if hma_name(signal_type) is None:
        raise HmaError(400, f"No such SignalType '{signal_type}'")
    jaga_type = jaga_name(signal_type)
    try:
        value = parse_value(signal_type, signal)
    except JagaError as error:
        raise HmaError(400, f"invalid signal: {error}") from None
    return jaga_type, query_signals(jaga_type, value)


async def _find(
    context: ServiceContext,
    signals: list[Signal],
    banks: set[str] | None,
    *,
    raw: bool = False,
    seed: str | None = None,
) -> list[Any]:
    """Match and log in a worker thread; HMA's ``seed`` (the client's content id) names the
    look-up in the match log."""
    return await run_in_threadpool(
        lambda: find_matches(context, signals, banks=banks, raw=raw, external_id=seed or "")
    )


async def _find_one(
    context: ServiceContext,
    signals: list[Signal],
    banks: set[str] | None,
    *,
    raw: bool = False,
    seed: str | None = None,
) -> list[Any]:
    """One hash: searched on the event loop (as ``/v1/match`` does; a thread hand-off costs
    more than the search), and only a match goes to a worker thread to be logged."""
    if len(signals) > 1:  # a vPDQ hash: one signal per frame, maybe thousands
        return await _find(context, signals, banks, raw=raw, seed=seed)
    outcome = search(context, signals, banks)
    if not outcome.all():
        return []
    return await run_in_threadpool(
        lambda: record(context, signals, outcome, raw=raw, external_id=seed or "")
    )


# -- status --------------------------------------------------------------------------------------

_TEXT = "text/html; charset=utf-8"


@router.get("/status", summary="HMA readiness check")
def hma_status(context: ServiceContext = Depends(_service)) -> Response:
    """``I-AM-ALIVE`` once the index is loaded and syncing; 503 otherwise (no key needed)."""
    status = context.matcher.status()
    if not status.built_from:
        return Response("INDEX-NOT-LOADED", status_code=503, media_type=_TEXT)
    limit = max(STALE_AFTER_S, 5 * context.config.sync_interval_s)
    if time.time() - status.last_sync > limit:
        return Response("INDEX-STALE", status_code=503, media_type=_TEXT)
    return Response("I-AM-ALIVE", media_type=_TEXT)


@router.get("/status/live", summary="HMA liveness check")
async def hma_status_live() -> Response:
    return Response("I-AM-ALIVE", media_type=_TEXT)


# -- hashing -------------------------------------------------------------------------------------


@router.get("/h/hash", dependencies=[Depends(_hash)], summary="Hash content from a URL")
async def hash_url(request: Request, context: ServiceContext = Depends(_service)) -> Any:
    query = validate(HashQuery, dict(request.query_params))
    hashes = await _hash_url(context, query.url, query.content_type, query.types, purpose="hash")
    return hashes.texts


@router.post("/h/hash", dependencies=[Depends(_hash)], summary="Hash an uploaded file")
async def hash_upload(request: Request, context: ServiceContext = Depends(_service)) -> Any:
    hashes = await _hash_upload(context, request, request.query_params.get("types"), purpose="hash")
    return hashes.texts


# -- matching ------------------------------------------------------------------------------------


@router.get("/m/lookup", dependencies=[Depends(_match)], summary="Look up a hash or a URL")
async def lookup_get(request: Request, context: ServiceContext = Depends(_service)) -> Any:
    query = validate(LookupQuery, dict(request.query_params))
    banks = _banks_param(query.banks)
    if query.url:
        hashes = await _hash_url(
            context, query.url, query.content_type, query.types, purpose="lookup"
        )
        found = await _find(context, list(hashes.signals), banks, seed=query.seed)
        result = by_signal_type(found, hashes.texts)
        if query.signal_type is not None:
            return JSONResponse(result.get(query.signal_type, {}))
        return JSONResponse(result)
    if not query.signal or not query.signal_type:
        raise HmaError(400, "Either url or both signal and signal_type are required")
    jaga_type, signals = _signal_of(query.signal_type, query.signal)
    found = await _find_one(context, signals, banks, seed=query.seed)
    return JSONResponse(by_bank(of_type(found, jaga_type)))


@router.post("/m/lookup", dependencies=[Depends(_match)], summary="Look up an uploaded file")
async def lookup_post(request: Request, context: ServiceContext = Depends(_service)) -> Any:
    hashes = await _hash_upload(
        context, request, request.query_params.get("types"), purpose="lookup"
    )
    banks = _banks_param(request.query_params.get("banks"))
    seed = request.query_params.get("seed")
    found = await _find(context, list(hashes.signals), banks, seed=seed)
    return JSONResponse(by_signal_type(found, hashes.texts))


@router.get("/m/raw_lookup", dependencies=[Depends(_match)], summary="Raw hash lookup")
async def raw_lookup(request: Request, context: ServiceContext = Depends(_service)) -> Any:
    query = validate(RawLookupQuery, dict(request.query_params))
    jaga_type, signals = _signal_of(query.signal_type, query.signal)
    found = await _find_one(context, signals, _banks_param(query.banks), raw=True)
    found = of_type(found, jaga_type)
    if query.include_distance:
        pairs = [
            {"bank_content_id": content_id, "distance": distance_text(match)}
            for match, content_id in found
        ]
        return JSONResponse({"matches": pairs})
    return JSONResponse({"matches": [content_id for _, content_id in found]})


@router.post("/m/compare", dependencies=[Depends(_match)], summary="Compare pairs of hashes")
async def compare_hashes(request: Request) -> Any:
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise HmaError(400, "Request input was not a dict")
    results: dict[str, Any] = {}
    for name, pair in body.items():
        if not isinstance(pair, list):
            raise HmaError(400, f"Comparison hashes for {name} was not a list")
        if len(pair) != 2:
            raise HmaError(400, "Comparison hash list length must be exactly 2")
        if hma_name(name) is None:
            raise HmaError(400, f"No such SignalType '{name}'")
        try:
            left, right = parse_value(name, pair[0]), parse_value(name, pair[1])
        except JagaError as error:
            raise HmaError(400, f"Invalid {name} hash: {error}") from None
        results[name] = compare(name, left, right)
    return results


@router.get("/m/index/status", dependencies=[Depends(_match)], summary="Index status")
def index_status(request: Request, context: ServiceContext = Depends(_service)) -> Any:
    names = list(HMA_TO_JAGA)
    wanted = request.query_params.get("signal_type")
    if wanted is not None:
        if wanted not in HMA_TO_JAGA:
            raise HmaError(400, f"No such signal type '{wanted}'")
        names = [wanted]
    sizes: dict[str, int] = {}
    for (_bank_id, jaga_type), count in context.matcher.entry_counts().items():
        sizes[jaga_type] = sizes.get(jaga_type, 0) + count
    built_to = int(context.matcher.status().last_sync)
    result = {}
    for name in names:
        size = sizes.get(HMA_TO_JAGA[name], 0)
        result[name] = {"present": size > 0, "built_to": built_to if size else -1, "size": size}
    return result


# -- banks ---------------------------------------------------------------------------------------


@router.get("/c/banks", dependencies=[Depends(_read)], summary="List banks")
async def banks_index(context: ServiceContext = Depends(_service)) -> Any:
    from jaga.banks.service import list_banks

    return await _in_session(context, lambda s: [hc.bank_json(b) for b in list_banks(s)])


@router.post("/c/banks", summary="Create a bank")
async def bank_create(
    request: Request,
    context: ServiceContext = Depends(_service),
    principal: Any = Depends(_write),
) -> Any:
    body = validate(BankCreate, await _json_body(request))
    if body.enabled_ratio is not None:
        ratio = body.enabled_ratio
    elif body.enabled is not None:
        ratio = 1.0 if body.enabled else 0.0
    else:
        ratio = 1.0

    def work(session: Session) -> dict[str, Any]:
        bank = hc.create_bank(session, body.name, ratio)
        _audit(session, principal, "bank.create", bank.name, enabled=bank.enabled)
        return hc.bank_json(bank)

    return JSONResponse(await _in_session(context, work, write=True), status_code=201)


@router.get("/c/bank/{bank_name}", dependencies=[Depends(_read)], summary="Get a bank")
async def bank_show(bank_name: str, context: ServiceContext = Depends(_service)) -> Any:
    return await _in_session(context, lambda s: hc.bank_json(hc.require_bank(s, bank_name)))


@router.put("/c/bank/{bank_name}", summary="Rename a bank or switch its matching")
async def bank_update(
    bank_name: str,
    request: Request,
    context: ServiceContext = Depends(_service),
    principal: Any = Depends(_write),
) -> Any:
    body = validate(BankUpdate, await _json_body(request) or {})

    def work(session: Session) -> dict[str, Any]:
        bank = hc.update_bank(
            session, bank_name, new_name=body.name, enabled=body.enabled, ratio=body.enabled_ratio
        )
        _audit(session, principal, "bank.update", bank_name, name=bank.name, enabled=bank.enabled)
        return hc.bank_json(bank)

    return await _in_session(context, work, write=True)


@router.delete("/c/bank/{bank_name}", summary="Delete a bank")
async def bank_delete(
    bank_name: str,
    context: ServiceContext = Depends(_service),
    principal: Any = Depends(_write),
) -> Any:
    def work(session: Session) -> None:
        removed = hc.delete_bank(session, bank_name)
        if removed is not None:
            _audit(session, principal, "bank.delete", bank_name, entries=removed)

    await _in_session(context, work, write=True)
    return {"message": "Done"}


# -- bank content --------------------------------------------------------------------------------


def _note(value: object) -> str | None:
    """HMA's note rules: empty means none, else text of at most 255 characters."""
    if not value:
        return None
    if not isinstance(value, str):
        raise HmaError(400, "note should be a string")
    if len(value) > MAX_NOTE:
        raise HmaError(400, "note must be at most 255 characters")
    return value


def _metadata(raw: object) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise HmaError(400, "metadata should be a json object")
    raw = {k: v for k, v in raw.items() if k != "collab"}
    try:
        checked = validate(ContentMetadata, raw)
    except HmaValidationError as error:
        raise HmaError(400, f"Invalid metadata: {error}") from None
    return checked.model_dump(by_alias=True, exclude_none=True) or None


def _recordable(metadata: dict[str, Any] | None) -> Any:
    """HMA's metadata as the audit record keeps it: whole up to 4 KiB of JSON, else its size."""
    if metadata is None:
        return None
    try:
        text = json.dumps(metadata, allow_nan=False, default=str)
    except ValueError:  # NaN or infinity: not plain JSON, which the audit log requires
        return {"plain_json": False}
    return metadata if len(text) <= MAX_AUDITED_METADATA else {"json_bytes": len(text)}


def _add(
    principal: Any,
    bank_name: str,
    signals: list[tuple[str, bytes]],
    extra: dict[str, Any],
    variants: tuple[tuple[str, bytes], ...] = (),
) -> Callable[[Session], int]:
    """The transaction that banks one content (Jaga keeps no metadata or note on entries; the
    audit record of the addition keeps them)."""

    def work(session: Session) -> int:
        bank = hc.require_bank(session, bank_name)
        content_id = hc.add_content(session, bank, signals, pdq_variants=variants)
        _audit(session, principal, "bank.entries.add", bank.name, content_id=content_id, **extra)
        return content_id

    return work


@router.post("/c/bank/{bank_name}/content", summary="Hash content and add it to a bank")
async def bank_add_content(
    bank_name: str,
    request: Request,
    context: ServiceContext = Depends(_service),
    principal: Any = Depends(_write),
) -> Any:
    bank = await _in_session(context, lambda s: hc.require_bank(s, bank_name))
    # Known material gets bank-side variants (crops, borderless copy), as `jaga bank add` does;
    # an allow-list does not (a variant there would cancel matches of more edited copies).
    variants = bank.kind != "allow"
    metadata: dict[str, Any] | None = None
    note: str | None = None
    url = request.query_params.get("url")
    types = request.query_params.get("types")
    kind = request.headers.get("content-type", "")
    if "multipart/form-data" in kind:
        upload = await _uploaded(context, request)
        form = await _form(context, request)
        assert form is not None
        if "metadata" in form.fields:
            try:
                metadata = _metadata(json.loads(form.fields["metadata"]))
            except json.JSONDecodeError:
                raise HmaError(400, "metadata form field must be valid JSON") from None
        note = _note(form.fields.get("note"))
    else:
        upload = None
        body = await _json_body(request) if "json" in kind else None
        if isinstance(body, dict):
            metadata = _metadata(body.get("metadata"))
            note = _note(body.get("note"))
    if url:
        content_type = request.query_params.get("content_type")
        hashes = await _hash_url(
            context, url, content_type, types, purpose="bank", bank_variants=variants
        )
    elif upload is not None:
        field, data = upload
        hma_types = select_types(check_content_type(field), types)
        hashes = await run_in_threadpool(
            lambda: hash_media(
                data, hma_types, context.hash_options, purpose="bank", bank_variants=variants
            )
        )
    else:
        raise HmaError(400, "Neither `url` nor multipart file upload was received")
    for name, text in hashes.texts.items():
        if name not in hashes.values:
            raise HmaError(400, f"Invalid {name} signal: the hash of {text!r} is too weak to bank")
    signals = [(HMA_TO_JAGA[name], value) for name, value in hashes.values.items()]
    extra = {"metadata": _recordable(metadata), "note": note, "url": url}
    adding = _add(principal, bank_name, signals, extra, hashes.variants)
    content_id = await _in_session(context, adding, write=True)
    return {"id": content_id, "signals": hashes.texts}


@router.post("/c/bank/{bank_name}/signal", summary="Add hashes to a bank")
async def bank_add_signal(
    bank_name: str,
    request: Request,
    context: ServiceContext = Depends(_service),
    principal: Any = Depends(_write),
) -> Any:
    await _in_session(context, lambda s: hc.require_bank(s, bank_name))
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise HmaError(400, "this endpoint expects a json object payload")
    note = _note(body.pop("note", None))
    if not body:
        raise HmaError(400, "No signals given")
    signals: list[tuple[str, bytes]] = []
    texts: dict[str, str] = {}
    for name, text in body.items():
        canonical = hma_name(name)
        if canonical is None:
            raise HmaError(400, f"No such signal type {name}")
        try:
            value = parse_value(name, text)
        except JagaError as error:
            raise HmaError(400, f"Invalid {name} signal: {error}") from None
        jaga_type = HMA_TO_JAGA[canonical]
        signals.append((jaga_type, value))
        texts[canonical] = (
            str(text).strip() if jaga_type == "vpdq" else format_value(jaga_type, value)
        )
    extra = {"note": note}
    content_id = await _in_session(context, _add(principal, bank_name, signals, extra), write=True)
    return {"id": content_id, "signals": texts}


def _require_content(session: Session, bank_name: str, content_id: int) -> hc.Content:
    bank: Bank = hc.require_bank(session, bank_name)
    content = hc.get_content(session, bank, content_id)
    if content is None:
        raise HmaError(404, f"content '{content_id}' not found")
    return content


def _flag(request: Request, name: str, default: str) -> bool:
    return request.query_params.get(name, default).lower() == "true"


@router.get(
    "/c/bank/{bank_name}/content/{content_id:int}",
    dependencies=[Depends(_read)],
    summary="Get banked content",
)
async def bank_get_content(
    bank_name: str,
    content_id: int,
    request: Request,
    context: ServiceContext = Depends(_service),
) -> Any:
    include_signals = _flag(request, "include_signals", "false")

    def work(session: Session) -> dict[str, Any]:
        content = _require_content(session, bank_name, content_id)
        body: dict[str, Any] = {
            "id": content.id,
            "disable_until_ts": content.disable_until_ts,
            "original_media_uri": None,
            "bank": hc.bank_json(content.bank),
        }
        if include_signals:
            body["signals"] = content.signals()
        return body

    return await _in_session(context, work)


@router.put("/c/bank/{bank_name}/content/{content_id:int}", summary="Enable or disable content")
async def bank_update_content(
    bank_name: str,
    content_id: int,
    request: Request,
    context: ServiceContext = Depends(_service),
    principal: Any = Depends(_write),
) -> Any:
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise HmaError(400, "this endpoint expects a json object payload")
    ts = hc.check_disable_until(body["disable_until_ts"]) if "disable_until_ts" in body else None
    if "note" in body:
        _note(body["note"])

    def work(session: Session) -> dict[str, Any]:
        content = _require_content(session, bank_name, content_id)
        if ts is not None:
            hc.set_disable_until(session, content, ts)
            action = "bank.entry.enable" if hc.is_enabling(ts) else "bank.entry.disable"
            ids = [entry.id for entry in content.entries]
            _audit(session, principal, action, bank_name, entry_ids=ids, disable_until_ts=ts)
        return hc.content_json(content)

    return await _in_session(context, work, write=True)


@router.delete("/c/bank/{bank_name}/content/{content_id:int}", summary="Remove content")
async def bank_delete_content(
    bank_name: str,
    content_id: int,
    context: ServiceContext = Depends(_service),
    principal: Any = Depends(_write),
) -> Any:
    def work(session: Session) -> int:
        bank = hc.require_bank(session, bank_name)
        deleted = hc.delete_content(session, bank, content_id)
        if deleted:
            _audit(session, principal, "bank.entry.delete", bank.name, content_id=content_id)
        return deleted

    return {"deleted": await _in_session(context, work, write=True)}


# -- configuration and exchanges (read-only answers: Jaga imports exchanges otherwise) ------------


@router.get("/c/signal_type", dependencies=[Depends(_read)], summary="Signal types")
async def signal_types() -> Any:
    return [{"name": name, "enabled_ratio": 1.0} for name in HMA_TO_JAGA]


@router.get("/c/content_type", dependencies=[Depends(_read)], summary="Content types")
async def content_types() -> Any:
    return [{"name": name, "enabled": True} for name in CONTENT_TYPES]


@router.get("/c/exchanges", dependencies=[Depends(_read)], summary="Exchanges (none)")
async def exchanges() -> Any:
    return []


@router.get("/c/exchanges/apis", dependencies=[Depends(_read)], summary="Exchange APIs (none)")
async def exchange_apis() -> Any:
    return []


@router.get("/c/exchange/{exchange_name}", dependencies=[Depends(_read)], summary="No exchange")
async def exchange_show(exchange_name: str) -> Any:
    raise HmaError(404, f"Exchange '{exchange_name}' not found")


@router.get(
    "/c/exchange/{exchange_name}/status", dependencies=[Depends(_read)], summary="No exchange"
)
async def exchange_status(exchange_name: str) -> Any:
    raise HmaError(404, f"Exchange '{exchange_name}' not found")


@router.delete("/c/exchange/{exchange_name}", dependencies=[Depends(_write)], summary="No-op")
async def exchange_delete(exchange_name: str) -> Any:
    return {"message": "Exchange deleted"}


@router.post("/c/exchanges", dependencies=[Depends(_write)], summary="Not supported")
async def exchange_create() -> Any:
    raise HmaError(
        501,
        "Jaga does not fetch exchanges through the HMA API; import hash lists with "
        "'jaga bank import' (see docs/api.md)",
    )

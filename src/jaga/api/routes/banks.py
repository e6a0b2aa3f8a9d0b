"""Banks and their entries (curators: ``banks:read`` / ``banks:write``; never the hasher role).

Every change runs in one transaction with its audit record (who, what, which bank) and its
change-feed row, then this process applies the feed at once so its own index reflects the change
before the response leaves; other server processes pick it up within their sync interval.
"""

from __future__ import annotations

import io
import logging
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any, Final, TypeVar, cast

import anyio.to_thread
from fastapi import APIRouter, Depends, Path, Query, Request, status
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from jaga.api.context import ServiceContext
from jaga.api.cursors import decode_cursor, encode_cursor
from jaga.api.deps import actor, get_context, permission
from jaga.api.schemas import (
    BankCreate,
    BankDeleted,
    BankList,
    BankOut,
    BankUpdate,
    EntriesAdded,
    EntryAdded,
    EntryBatch,
    EntryDeleted,
    EntryDisable,
    EntryIn,
    EntryOut,
    EntryPageOut,
    ErrorBody,
    ImportResult,
)
from jaga.api.uploads import InvalidRequest, read_body
from jaga.api.views import bank_out, entry_out
from jaga.banks import service as banks
from jaga.banks.formats import get_format
from jaga.banks.importer import export_bank, import_file
from jaga.errors import JagaError
from jaga.signals.registry import get_signal_type
from jaga.store import audit

log = logging.getLogger(__name__)
router = APIRouter(tags=["banks"])

T = TypeVar("T")

BANK = Path(description="Bank name.", max_length=64)
ENTRY = Path(description="Entry id.")
_CONTENT_TYPES: Final = {
    "csv": "text/csv; charset=utf-8",
    "tsv": "text/tab-separated-values; charset=utf-8",
    "threatexchange": "text/plain; charset=utf-8",
    "ncmec": "application/xml",
    "stopncii": "application/json",
}
_EXTENSIONS: Final = {
    "csv": "csv",
    "tsv": "tsv",
    "threatexchange": "txt",
    "ncmec": "xml",
    "stopncii": "json",
}
_EXPORT_CHUNK: Final = 64 * 1024


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorBody} for code in codes}


READ: Final = Depends(permission("banks:read"))
WRITE: Final = Depends(permission("banks:write"))


@contextmanager
def _change(service: ServiceContext) -> Iterator[Session]:
    """A write transaction; afterwards this process's index catches up with it."""
    with service.db.session(immediate=True) as session:
        yield session
    service.matcher.sync()


def audit_bank(session: Session, principal: Any, action: str, bank: str, **details: Any) -> None:
    """One audit record of a change to ``bank`` by ``principal`` (also used by the HMA routes,
    which add ``via="hma"``)."""
    audit.append(
        session,
        actor=actor(principal),
        action=action,
        target=f"bank:{bank}",
        details=details or None,
    )


async def _thread(function: Callable[..., T], *args: Any) -> T:
    return await run_in_threadpool(function, *args)


# -- banks ---------------------------------------------------------------------------------------


@router.get("/v1/banks", response_model=BankList, responses=_errors(401, 403, 429))
def list_banks(request: Request, _principal: Any = READ) -> BankList:
    """Every bank with its settings (entry counts: read one bank)."""
    with get_context(request).db.session() as session:
        return BankList(banks=[bank_out(b) for b in banks.list_banks(session)])


@router.post(
    "/v1/banks",
    response_model=BankOut,
    status_code=status.HTTP_201_CREATED,
    responses=_errors(401, 403, 409, 422, 429),
)
def create_bank(body: BankCreate, request: Request, principal: Any = WRITE) -> BankOut:
    """A new, empty bank. ``kind`` ``allow`` makes an allow-list (known false positives)."""
    service = get_context(request)
    with _change(service) as session:
        bank = banks.create_bank(
            session,
            body.name,
            kind=body.kind,
            thresholds=body.thresholds,
            description=body.description,
            enabled=body.enabled,
        )
        audit_bank(
            session,
            principal,
            "bank.create",
            bank.name,
            kind=bank.kind,
            thresholds=bank.thresholds,
            enabled=bank.enabled,
        )
        result = bank_out(bank, {})
    return result


@router.get("/v1/banks/{name}", response_model=BankOut, responses=_errors(401, 403, 404, 429))
def get_bank(request: Request, name: str = BANK, _principal: Any = READ) -> BankOut:
    """A bank's settings and its number of entries per signal type."""
    with get_context(request).db.session() as session:
        bank = banks.get_bank(session, name)
        return bank_out(bank, banks.entry_counts(session, bank))


@router.patch(
    "/v1/banks/{name}", response_model=BankOut, responses=_errors(401, 403, 404, 422, 429)
)
def update_bank(
    body: BankUpdate, request: Request, name: str = BANK, principal: Any = WRITE
) -> BankOut:
    """Change thresholds, enable/disable the whole bank, or its description."""
    service = get_context(request)
    changes = body.model_dump(exclude_none=True)
    with _change(service) as session:
        bank = banks.update_bank(session, name, **changes)
        audit_bank(session, principal, "bank.update", bank.name, **changes)
        result = bank_out(bank)
    return result


@router.delete(
    "/v1/banks/{name}", response_model=BankDeleted, responses=_errors(401, 403, 404, 429)
)
def delete_bank(request: Request, name: str = BANK, principal: Any = WRITE) -> BankDeleted:
    """Delete a bank and every entry in it (the match log keeps the bank's name)."""
    service = get_context(request)
    with _change(service) as session:
        bank = banks.get_bank(session, name)
        count = banks.delete_bank(session, bank)
        audit_bank(session, principal, "bank.delete", bank.name, entries=count)
        result = BankDeleted(name=bank.name, entries=count)
    return result


# -- entries -------------------------------------------------------------------------------------


@router.get(
    "/v1/banks/{name}/entries",
    response_model=EntryPageOut,
    responses=_errors(401, 403, 404, 422, 429),
)
def list_entries(
    request: Request,
    name: str = BANK,
    signal_type: str | None = Query(None, description="Only entries of this signal type."),
    cursor: str | None = Query(None, description="next_cursor of the previous page."),
    limit: int = Query(100, ge=1, le=1000),
    _principal: Any = READ,
) -> EntryPageOut:
    """One page of entries in id order (keyset pagination: stable while entries are added)."""
    after = decode_cursor("entries", cursor)
    with get_context(request).db.session() as session:
        bank = banks.get_bank(session, name)
        page = banks.page_entries(session, bank, signal_type=signal_type, after=after, limit=limit)
        return EntryPageOut(
            entries=[entry_out(e, bank.name) for e in page.entries],
            next_cursor=None
            if page.next_after is None
            else encode_cursor("entries", page.next_after),
        )


def _add_one(
    session: Session, bank: Any, item: EntryIn, default_source: str, where: str
) -> EntryAdded:
    try:
        added = banks.add_entry(
            session,
            bank,
            item.signal_type,
            item.hash,
            labels=item.labels,
            source=default_source if item.source is None else item.source,
            external_id=item.external_id,
            disabled_until=item.disabled_until,
        )
    except JagaError as error:
        if not where:
            raise
        raise type(error)(f"{where}: {error}") from None
    return EntryAdded(id=added.id, created=added.created)


@router.post(
    "/v1/banks/{name}/entries",
    response_model=EntriesAdded,
    status_code=status.HTTP_201_CREATED,
    responses=_errors(401, 403, 404, 422, 429),
)
def add_entries(
    body: EntryIn | EntryBatch, request: Request, name: str = BANK, principal: Any = WRITE
) -> EntriesAdded:
    """Add one entry (an object) or up to 1000 (``{"entries": [...]}``); all or none. A hash
    already in the bank is not added twice (``created: false``). Bigger lists: use import."""
    service = get_context(request)
    items = body.entries if isinstance(body, EntryBatch) else [body]
    with _change(service) as session:
        bank = banks.get_bank(session, name)
        added = [
            _add_one(
                session,
                bank,
                item,
                actor(principal),
                f"entries[{i}]" if isinstance(body, EntryBatch) else "",
            )
            for i, item in enumerate(items)
        ]
        created = [a.id for a in added if a.created]
        audit_bank(session, principal, "bank.entries.add", bank.name, entry_ids=created)
    return EntriesAdded(entries=added, added=len(created), duplicates=len(added) - len(created))


@router.get(
    "/v1/banks/{name}/entries/{entry_id}",
    response_model=EntryOut,
    responses=_errors(401, 403, 404, 429),
)
def get_entry(
    request: Request, name: str = BANK, entry_id: int = ENTRY, _principal: Any = READ
) -> EntryOut:
    with get_context(request).db.session() as session:
        bank = banks.get_bank(session, name)
        return entry_out(banks.get_entry(session, entry_id, bank=bank), bank.name)


@router.post(
    "/v1/banks/{name}/entries/{entry_id}/disable",
    response_model=EntryOut,
    responses=_errors(401, 403, 404, 422, 429),
)
def disable_entry(
    request: Request,
    body: EntryDisable | None = None,
    name: str = BANK,
    entry_id: int = ENTRY,
    principal: Any = WRITE,
) -> EntryOut:
    """Stop an entry matching, until ``until`` or until enabled again (e.g. a false positive
    under review)."""
    until = body.until if body is not None else None
    service = get_context(request)
    with _change(service) as session:
        bank = banks.get_bank(session, name)
        entry = banks.disable_entry(session, entry_id, until, bank=bank)
        audit_bank(
            session,
            principal,
            "bank.entry.disable",
            bank.name,
            entry_id=entry_id,
            until=until.isoformat() if until else None,
        )
        result = entry_out(entry, bank.name)
    return result


@router.post(
    "/v1/banks/{name}/entries/{entry_id}/enable",
    response_model=EntryOut,
    responses=_errors(401, 403, 404, 429),
)
def enable_entry(
    request: Request, name: str = BANK, entry_id: int = ENTRY, principal: Any = WRITE
) -> EntryOut:
    service = get_context(request)
    with _change(service) as session:
        bank = banks.get_bank(session, name)
        entry = banks.enable_entry(session, entry_id, bank=bank)
        audit_bank(session, principal, "bank.entry.enable", bank.name, entry_id=entry_id)
        result = entry_out(entry, bank.name)
    return result


@router.delete(
    "/v1/banks/{name}/entries/{entry_id}",
    response_model=EntryDeleted,
    responses=_errors(401, 403, 404, 429),
)
def delete_entry(
    request: Request, name: str = BANK, entry_id: int = ENTRY, principal: Any = WRITE
) -> EntryDeleted:
    service = get_context(request)
    with _change(service) as session:
        bank = banks.get_bank(session, name)
        banks.delete_entry(session, entry_id, bank=bank)
        audit_bank(session, principal, "bank.entry.delete", bank.name, entry_id=entry_id)
    return EntryDeleted(id=entry_id)


# -- import / export -----------------------------------------------------------------------------

_IMPORT_FIELDS = {
    "type": "object",
    "required": ["file", "format"],
    "properties": {
        "file": {"type": "string", "format": "binary", "description": "The hash file."},
        "format": {"type": "string", "enum": ["csv", "tsv", "threatexchange", "ncmec", "stopncii"]},
        "signal_type": {
            "type": "string",
            "description": "Signal type of rows that do not name one (csv, signal lines).",
        },
        "source": {"type": "string", "description": "Provenance of entries that name none."},
        "delimiter": {"type": "string", "description": "CSV delimiter (default: sniffed)."},
    },
}


def _import_options(fields: dict[str, str]) -> dict[str, str | None]:
    allowed = {"format", "signal_type", "source", "delimiter"}
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise InvalidRequest(f"unexpected form field {unknown[0]!r}")
    if not fields.get("format"):
        raise InvalidRequest("format: name the file's format (csv, tsv, threatexchange, ...)")
    return {name: fields.get(name) or None for name in allowed}


def _import(
    service: ServiceContext, name: str, stream: Any, options: dict[str, str | None], who: Any
) -> ImportResult:
    with _change(service) as session:
        bank = banks.get_bank(session, name)
        report = import_file(
            session,
            bank,
            stream,
            options["format"],
            options["source"] or actor(who),
            signal_type=options["signal_type"],
            delimiter=options["delimiter"],
        )
        audit_bank(
            session,
            who,
            "bank.import",
            bank.name,
            format=report.format,
            source=report.source,
            added=report.added,
            removed=report.removed,
            duplicates=report.duplicates,
        )
        return ImportResult(
            bank=bank.name,
            format=report.format,
            source=report.source,
            records=report.records,
            added=report.added,
            duplicates=report.duplicates,
            removed=report.removed,
            skipped=dict(report.skipped),
        )


@router.post(
    "/v1/banks/{name}/import",
    response_model=ImportResult,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"multipart/form-data": {"schema": _IMPORT_FIELDS}},
        }
    },
    responses=_errors(401, 403, 404, 413, 415, 422, 429),
)
async def import_entries(
    request: Request, name: str = BANK, principal: Any = WRITE
) -> ImportResult:
    """Import a hash file, all or nothing: a bad row anywhere answers 422 naming its line, and
    no entry of the file is kept. Deletion records of the format remove entries."""
    service = get_context(request)
    body = await read_body(
        request, file_limits={"file": service.config.max_import_bytes}, spool=True
    )
    part = body.files.get("file")
    try:
        if part is None or part.stream is None:
            raise InvalidRequest("send the hash file as multipart field 'file'")
        options = _import_options(body.fields)
        return await _thread(_import, service, name, part.stream, options, principal)
    finally:
        if part is not None and part.stream is not None:
            part.stream.close()


class _QueueWriter(io.RawIOBase):
    """A binary sink that hands chunks to the response through a bounded queue (backpressure)."""

    def __init__(self, chunks: queue.Queue[bytes | BaseException | None], stop: threading.Event):
        self.chunks = chunks
        self.stop = stop
        self.pending = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.pending += bytes(data)
        if len(self.pending) >= _EXPORT_CHUNK:
            self.send()
        return len(data)

    def send(self) -> None:
        if not self.pending:
            return
        chunk, self.pending = bytes(self.pending), bytearray()
        while True:
            if self.stop.is_set():
                raise _ClientGone
            try:
                self.chunks.put(chunk, timeout=0.5)
                return
            except queue.Full:
                continue


class _ClientGone(Exception):
    """The client stopped reading an export."""


def _export_worker(
    service: ServiceContext,
    name: str,
    fmt: str,
    options: dict[str, Any],
    chunks: queue.Queue[bytes | BaseException | None],
    stop: threading.Event,
) -> None:
    writer = _QueueWriter(chunks, stop)
    try:
        with service.db.session() as session:
            export_bank(session, name, cast(IO[bytes], writer), fmt, **options)
        writer.send()
        chunks.put(None)
    except _ClientGone:
        return
    except BaseException as error:  # handed to the response, which ends the stream
        chunks.put(error)


def _next_chunk(
    chunks: queue.Queue[bytes | BaseException | None], stop: threading.Event
) -> bytes | BaseException | None:
    """The next chunk; gives up (None) once the response is gone, so no thread waits forever."""
    while True:
        try:
            return chunks.get(timeout=0.5)
        except queue.Empty:
            if stop.is_set():
                return None


def _prepare_export(
    service: ServiceContext, name: str, fmt: str, signal_type: str | None, who: Any
) -> str:
    spec = get_format(fmt)
    if signal_type is not None:
        get_signal_type(signal_type)
    with service.db.session(immediate=True) as session:
        bank = banks.get_bank(session, name)
        audit_bank(
            session, who, "bank.export", bank.name, format=spec.name, signal_type=signal_type
        )
        return bank.name


@router.get(
    "/v1/banks/{name}/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The bank's entries in the format asked for, streamed.",
            "content": {t.split(";")[0]: {} for t in _CONTENT_TYPES.values()},
        },
        **_errors(401, 403, 404, 422, 429),
    },
)
async def export_entries(
    request: Request,
    name: str = BANK,
    format: str = Query("csv", description="csv, tsv, threatexchange, ncmec or stopncii."),
    signal_type: str | None = Query(None, description="Only entries of this signal type."),
    include_disabled: bool = Query(True, description="Also disabled entries (marked as such)."),
    principal: Any = READ,
) -> StreamingResponse:
    """Every entry of the bank, streamed (memory stays flat for millions of entries). The export
    itself is recorded in the audit log: hash lists leaving the service are worth knowing about."""
    service = get_context(request)
    fmt = format.strip().lower()
    bank_name = await _thread(_prepare_export, service, name, fmt, signal_type, principal)
    options = {"signal_type": signal_type, "include_disabled": include_disabled}
    chunks: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=8)
    stop = threading.Event()

    worker = threading.Thread(
        target=_export_worker,
        args=(service, bank_name, fmt, options, chunks, stop),
        name="jaga-export",
        daemon=True,
    )
    worker.start()
    # Wait for the first chunk before answering: an error on the first record (a format that
    # cannot carry these entries) is still a proper 4xx. A later error aborts the transfer
    # (no final chunk), so a client never takes a cut-off export for a whole one.
    first = await anyio.to_thread.run_sync(_next_chunk, chunks, stop)
    if isinstance(first, BaseException):
        stop.set()
        raise first

    async def stream() -> AsyncIterator[bytes]:
        try:
            item: bytes | BaseException | None = first
            while item is not None:
                if isinstance(item, BaseException):
                    log.warning("export of bank %r aborted: %s", bank_name, item)
                    raise item
                yield item
                item = await anyio.to_thread.run_sync(_next_chunk, chunks, stop)
        finally:
            stop.set()

    filename = f"{bank_name}.{_EXTENSIONS.get(fmt, 'txt')}"
    return StreamingResponse(
        stream(),
        media_type=_CONTENT_TYPES.get(fmt, "application/octet-stream"),
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )

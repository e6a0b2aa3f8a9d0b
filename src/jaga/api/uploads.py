"""Reading request bodies under a byte limit, without trusting the client to say how big they are.

FastAPI's own ``File()``/``Form()`` parameters read the whole body (spooling it to disk) before the
route runs, so an over-limit upload is only refused after it arrived. Here the body is streamed:
a ``Content-Length`` over the limit is refused before a byte is read (413), and the running size
is checked chunk by chunk, so memory never holds more than the limit whatever the client claims
(or does not claim, with chunked encoding).

Three body kinds: ``multipart/form-data`` (files and text fields), JSON or url-encoded forms (text
fields only), and a raw media body (``image/*``, ``video/*``, ``application/octet-stream``).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, Final, TypeVar
from urllib.parse import parse_qsl

from fastapi import Request
from pydantic import BaseModel, ValidationError
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

from jaga.api.errors import RequestTooLarge
from jaga.errors import InvalidInput, JagaError

#: Text fields are short (ids, names, a URL); the whole non-file part of a form is small.
MAX_FIELD_BYTES: Final = 16 * 1024
MAX_FIELDS: Final = 32
FORM_OVERHEAD: Final = MAX_FIELDS * (MAX_FIELD_BYTES + 512)
#: JSON bodies of routes that take one (content by URL); /v1/match has its own model limits.
MAX_JSON_BYTES: Final = 1 * 2**20
#: Imports are spooled to disk above this size.
SPOOL_BYTES: Final = 8 * 2**20
#: After refusing a body mid-stream, read and drop up to this much more of it (see _drain).
DRAIN_BYTES: Final = 4 * 2**20

RAW_MEDIA_TYPES: Final = ("image/", "video/", "application/octet-stream")

M = TypeVar("M", bound=BaseModel)


class UnsupportedContentType(JagaError):
    """A request body of a type the route does not take (415)."""


class InvalidRequest(InvalidInput):
    """A body or form that does not fit the route's model (422)."""


class RequestAborted(JagaError):
    """The client went away mid-body: nobody to answer, nothing to log as a bug (400)."""


@dataclass
class FilePart:
    """One uploaded file: in memory (``data``) or spooled (``stream``), never both."""

    name: str
    filename: str
    content_type: str
    size: int = 0
    data: bytes = b""
    stream: IO[bytes] | None = None


@dataclass
class Body:
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, FilePart] = field(default_factory=dict)
    raw: FilePart | None = None


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _check_declared(request: Request, limit: int, what: str) -> None:
    declared = request.headers.get("content-length")
    if declared is None:
        return
    try:
        size = int(declared)
    except ValueError:
        raise InvalidRequest(f"Content-Length is not a number: {declared[:40]!r}") from None
    if size > limit:
        raise RequestTooLarge(f"{what} of {size} bytes is over the limit of {limit} bytes")


async def _drain(chunks: AsyncIterator[bytes]) -> None:
    """Read and drop a bounded amount of the rest of a refused body.

    Closing a connection with unread data in its receive buffer makes the kernel send a reset,
    and a client still sending its body then often never reads the error we answered. Letting a
    slightly oversized upload finish costs little and gets the client its 413; past
    ``DRAIN_BYTES`` the connection is simply closed.
    """
    budget = DRAIN_BYTES
    try:
        async for chunk in chunks:
            budget -= len(chunk)
            if budget < 0:
                return
    except ClientDisconnect:
        return


async def read_limited(request: Request, limit: int, what: str = "request body") -> bytes:
    """The whole body, refused (413) as soon as it is known to be over ``limit`` bytes."""
    _check_declared(request, limit, what)
    body = bytearray()
    chunks = request.stream()
    try:
        async for chunk in chunks:
            body += chunk
            if len(body) > limit:
                body.clear()
                await _drain(chunks)
                raise RequestTooLarge(f"{what} is over the limit of {limit} bytes")
    except ClientDisconnect:
        raise RequestAborted("the client closed the connection before sending the body") from None
    return bytes(body)


class _Sink:
    """Where one file part's bytes go: memory up to a limit, or a spooled temporary file."""

    def __init__(self, part: FilePart, limit: int, spool: bool) -> None:
        self.part = part
        self.limit = limit
        self.buffer = bytearray()
        self.file: IO[bytes] | None = (
            tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) if spool else None  # noqa: SIM115
        )

    def write(self, data: bytes) -> None:
        self.part.size += len(data)
        if self.part.size > self.limit:
            raise RequestTooLarge(
                f"file {self.part.name!r} is over the limit of {self.limit} bytes"
            )
        if self.file is not None:
            self.file.write(data)
        else:
            self.buffer += data

    def finish(self) -> None:
        if self.file is not None:
            self.file.seek(0)
            self.part.stream = self.file
        else:
            self.part.data = bytes(self.buffer)
            self.buffer = bytearray()

    def discard(self) -> None:
        if self.file is not None:
            self.file.close()


class _MultipartCollector:
    """Callbacks for python-multipart that keep text fields and feed file parts to sinks."""

    def __init__(self, file_limits: Mapping[str, int], spool: bool) -> None:
        self.file_limits = file_limits
        self.spool = spool
        self.body = Body()
        self.error: JagaError | None = None
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[str, str] = {}
        self._text: bytearray | None = None
        self._name = ""
        self._sink: _Sink | None = None
        self._sinks: list[_Sink] = []

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._on_header_field,
            "on_header_value": self._on_header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def fail(self, error: JagaError) -> None:
        if self.error is None:
            self.error = error

    def close(self) -> None:
        for sink in self._sinks:
            sink.discard()

    def _part_begin(self) -> None:
        self._headers = {}
        self._text = None
        self._sink = None

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        name = self._header_field.decode("latin-1").lower()
        self._headers[name] = self._header_value.decode("latin-1")
        self._header_field.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        if self.error is not None:
            return
        _, params = parse_options_header(self._headers.get("content-disposition", ""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        filename = params.get(b"filename")
        self._name = name
        if filename is not None:
            limit = self.file_limits.get(name)
            if limit is None:
                expected = ", ".join(repr(n) for n in self.file_limits) or "none"
                self.fail(InvalidRequest(f"unexpected file field {name!r} (expected: {expected})"))
                return
            if name in self.body.files:
                self.fail(InvalidRequest(f"file field {name!r} given twice"))
                return
            part = FilePart(
                name=name,
                filename=filename.decode("utf-8", "replace"),
                content_type=self._headers.get("content-type", "application/octet-stream"),
            )
            self.body.files[name] = part
            self._sink = _Sink(part, limit, self.spool)
            self._sinks.append(self._sink)
        else:
            if len(self.body.fields) >= MAX_FIELDS:
                self.fail(InvalidRequest(f"too many form fields (at most {MAX_FIELDS})"))
                return
            self._text = bytearray()

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self.error is not None:
            return
        if self._sink is not None:
            try:
                self._sink.write(data[start:end])
            except JagaError as error:
                self.fail(error)
        elif self._text is not None:
            self._text += data[start:end]
            if len(self._text) > MAX_FIELD_BYTES:
                self.fail(
                    InvalidRequest(f"form field {self._name!r} is over {MAX_FIELD_BYTES} bytes")
                )

    def _part_end(self) -> None:
        if self.error is not None:
            return
        if self._sink is not None:
            self._sink.finish()
        elif self._text is not None:
            if self._name in self.body.fields:
                self.fail(InvalidRequest(f"form field {self._name!r} given twice"))
                return
            try:
                self.body.fields[self._name] = self._text.decode("utf-8")
            except UnicodeDecodeError:
                self.fail(InvalidRequest(f"form field {self._name!r} is not UTF-8 text"))


async def _read_multipart(request: Request, file_limits: Mapping[str, int], spool: bool) -> Body:
    _, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if not boundary:
        raise InvalidRequest("multipart/form-data without a boundary")
    largest = max(file_limits.values(), default=0) * max(1, len(file_limits))
    limit = largest + FORM_OVERHEAD
    _check_declared(request, limit, "upload")
    collector = _MultipartCollector(file_limits, spool)
    parser = MultipartParser(boundary, collector.callbacks())  # type: ignore[arg-type]
    total = 0
    chunks = request.stream()
    try:
        async for chunk in chunks:
            total += len(chunk)
            if total > limit:
                collector.fail(RequestTooLarge(f"upload is over the limit of {limit} bytes"))
            else:
                parser.write(chunk)
            if collector.error is not None:
                collector.close()
                await _drain(chunks)
                raise collector.error
        parser.finalize()
        if collector.error is not None:
            raise collector.error
    except FormParserError:
        collector.close()
        raise InvalidRequest("malformed multipart/form-data body") from None
    except ClientDisconnect:
        collector.close()
        raise RequestAborted("the client closed the connection during the upload") from None
    except BaseException:
        collector.close()
        raise
    return collector.body


async def read_body(
    request: Request,
    *,
    file_limits: Mapping[str, int],
    raw_limit: int | None = None,
    spool: bool = False,
) -> Body:
    """Text fields and files of a form, JSON object or raw media body, all under limits.

    ``file_limits`` names the file fields the route takes and each one's byte limit.
    ``raw_limit`` (None: not accepted) allows a raw media body, e.g. ``curl --data-binary``.
    """
    kind = media_type(request)
    if kind == "multipart/form-data":
        return await _read_multipart(request, file_limits, spool)
    if kind == "application/json":
        data = await read_limited(request, MAX_JSON_BYTES, "JSON body")
        try:
            parsed = json.loads(data) if data.strip() else {}
        except (ValueError, UnicodeDecodeError) as error:
            raise InvalidRequest(f"body is not valid JSON: {error}") from None
        if not isinstance(parsed, dict):
            raise InvalidRequest("JSON body must be an object")
        return Body(fields=parsed)
    if kind == "application/x-www-form-urlencoded":
        data = await read_limited(request, FORM_OVERHEAD, "form")
        try:
            pairs = parse_qsl(data.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise InvalidRequest("form body is not UTF-8") from None
        return Body(fields=dict(pairs))
    if raw_limit is not None and kind.startswith(RAW_MEDIA_TYPES):
        data = await read_limited(request, raw_limit, "upload")
        return Body(
            fields=dict(request.query_params),
            raw=FilePart("body", "", kind, len(data), data),
        )
    accepted = "multipart/form-data, application/json"
    if raw_limit is not None:
        accepted += ", or a raw image/*, video/* or application/octet-stream body"
    raise UnsupportedContentType(
        f"cannot read a {kind or 'body without Content-Type'}; send {accepted}"
    )


def parse_model(model: type[M], values: Mapping[str, Any]) -> M:
    """Validate fields against a model; the first problem becomes one 422 line."""
    try:
        return model.model_validate(dict(values))
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        message = first.get("msg", "invalid value")
        raise InvalidRequest(f"{where}: {message}" if where else message) from None

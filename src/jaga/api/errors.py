"""How typed errors become HTTP responses: one status per error family, one JSON shape.

Body: ``{"error": {"type": "UnsupportedMedia", "message": "..."}}``. Anything that is not a
JagaError is a bug: logged with its traceback, answered 500 without internals.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from jaga.errors import InvalidInput, JagaError, NotFound

log = logging.getLogger(__name__)


class RequestTooLarge(JagaError):
    """The request body is over the configured limit."""


class RateLimited(JagaError):
    """Too many requests for this key; retry after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _status_by_name() -> dict[str, int]:
    # Names, not classes, so this module does not import every package that defines errors.
    return {
        "AuthError": 401,
        "InvalidApiKey": 401,
        "RevokedApiKey": 401,
        "MissingApiKey": 401,
        "PermissionDenied": 403,
        "RequestTooLarge": 413,
        "MediaTooLarge": 413,
        "FetchTooLarge": 413,
        "UnsupportedMedia": 415,
        "UnsupportedContentType": 415,
        "CorruptMedia": 422,
        "FetchRefused": 422,
        "FetchFailed": 502,
        "RateLimited": 429,
        "DuplicateBank": 409,
        "DatabaseUnavailable": 503,
    }


_STATUS = _status_by_name()


def status_for(error: JagaError) -> int:
    for cls in type(error).__mro__:
        status = _STATUS.get(cls.__name__)
        if status is not None:
            return status
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, InvalidInput):
        return 422
    return 400


def error_body(
    type_name: str, message: str, **where: int | str | None
) -> dict[str, dict[str, int | str]]:
    """The one error shape; ``where`` adds ``line``/``column`` for errors in an imported file."""
    body: dict[str, int | str] = {"type": type_name, "message": message}
    body.update({k: v for k, v in where.items() if v is not None})
    return {"error": body}


def error_response(error: JagaError) -> JSONResponse:
    """The response for a typed error: its status, the JSON shape, and any headers it needs."""
    status = status_for(error)
    headers = {}
    if isinstance(error, RateLimited):
        headers["Retry-After"] = str(max(1, round(error.retry_after)))
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    where = {"line": getattr(error, "line", None), "column": getattr(error, "column", None)}
    return JSONResponse(
        error_body(type(error).__name__, str(error), **where), status_code=status, headers=headers
    )


def unexpected_response(error: Exception) -> JSONResponse:
    """An error that is not a JagaError: the database too busy to answer (503, retry), or a bug
    (500, logged with its traceback, no internals in the answer)."""
    if isinstance(error, OperationalError):
        log.warning("database busy or unreachable: %s", str(error).splitlines()[0])
        return JSONResponse(
            error_body("DatabaseBusy", "the database is busy or unreachable; retry shortly"),
            status_code=503,
            headers={"Retry-After": "1"},
        )
    log.exception("unhandled error", exc_info=error)
    return JSONResponse(error_body("InternalError", "internal error"), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(JagaError)
    async def _jaga_error(_request: Request, error: JagaError) -> JSONResponse:
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        message = f"{where}: {first.get('msg', 'invalid request')}" if where else "invalid request"
        return JSONResponse(error_body("InvalidRequest", message), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            error_body("HTTPError", str(error.detail)),
            status_code=error.status_code,
            headers=getattr(error, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _bug(_request: Request, error: Exception) -> JSONResponse:
        return unexpected_response(error)

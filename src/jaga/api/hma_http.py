"""HTTP plumbing of the HMA-compatible routes: HMA's error bodies, request models, route class.

HMA answers every error as ``{"message": "..."}`` with the status it chose (mostly 400), and a
request that fails its pydantic models (flask-openapi3) as 422 with pydantic's list of errors.
Jaga's own routes answer ``{"error": {...}}``; an HMA client reads ``message``. So the HMA routes
use :class:`HmaRoute`, which turns every error raised while serving them -- by the endpoint or by
a dependency such as the API-key check -- into HMA's shape before Jaga's app-wide handlers see it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from jaga.api.errors import RateLimited, status_for
from jaga.errors import JagaError

log = logging.getLogger(__name__)

#: Statuses of Jaga errors kept as they are on HMA routes; every other bad input is HMA's 400.
_KEPT_STATUSES = frozenset({401, 403, 404, 413, 429, 503})

M = TypeVar("M", bound=BaseModel)


class HmaError(JagaError):
    """An error answered exactly as HMA answers it: ``{"message": ...}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class HmaValidationError(JagaError):
    """A request that fails one of HMA's request models: 422 with pydantic's error list."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        first = errors[0] if errors else {}
        super().__init__(str(first.get("msg", "invalid request")))
        self.errors = errors


def message(status: int, text: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"message": text}, status_code=status, headers=dict(headers or {}))


def hma_status(error: JagaError) -> int:
    """The status of a Jaga error on an HMA route."""
    status = status_for(error)
    return status if status in _KEPT_STATUSES else 400


def error_response(error: Exception) -> Response:
    """HMA's answer to ``error``; anything not a JagaError is a bug, logged, answered 500."""
    if isinstance(error, HmaError):
        return message(error.status, str(error))
    if isinstance(error, HmaValidationError):
        return JSONResponse(error.errors, status_code=422)
    if isinstance(error, RequestValidationError):
        return JSONResponse(_plain_errors(list(error.errors())), status_code=422)
    if isinstance(error, JagaError):
        status = hma_status(error)
        headers: dict[str, str] = {}
        if isinstance(error, RateLimited):
            headers["Retry-After"] = str(max(1, round(error.retry_after)))
        if status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        return message(status, str(error), headers)
    log.exception("unhandled error on an HMA route", exc_info=error)
    return message(500, "Internal Server Error")


class HmaRoute(APIRoute):
    """An APIRoute whose errors, including those of its dependencies, come out in HMA's shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def hma_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as error:  # every error leaves in HMA's shape
                return error_response(error)

        return hma_handler


def _plain_errors(errors: list[Any]) -> list[dict[str, Any]]:
    """pydantic errors as JSON-safe dicts (``ctx`` can hold exceptions)."""
    plain = []
    for item in errors:
        entry = {k: item[k] for k in ("type", "loc", "msg", "input") if k in item}
        if "loc" in entry:
            entry["loc"] = list(entry["loc"])
        if not isinstance(entry.get("input"), str | int | float | bool | type(None) | dict | list):
            entry["input"] = str(entry.get("input"))
        plain.append(entry)
    return plain


def validate(model: type[M], data: object) -> M:
    """``data`` checked against an HMA request model, or HmaValidationError (422)."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raw = error.errors(include_url=False, include_context=False)
        raise HmaValidationError(_plain_errors(list(raw))) from None


# -- HMA's request models (the fields, types and defaults of OpenMediaMatch.schemas) -----------


class HashQuery(BaseModel):
    url: str
    content_type: str | None = None
    types: str | None = None


class LookupQuery(BaseModel):
    url: str | None = None
    content_type: str | None = None
    types: str | None = None
    signal: str | None = None
    signal_type: str | None = None
    banks: str | None = None
    seed: str | None = None
    bypass_coinflip: bool = False


class RawLookupQuery(BaseModel):
    signal: str
    signal_type: str
    banks: str | None = None
    include_distance: bool = False


class BankCreate(BaseModel):
    name: str
    enabled_ratio: float | None = 1.0
    enabled: bool | None = None


class BankUpdate(BaseModel):
    name: str | None = None
    enabled_ratio: float | None = None
    enabled: bool | None = None


class ContentMetadata(BaseModel):
    """HMA's metadata of banked content; unknown keys are refused, as HMA does."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    content_id: str | None = None
    content_uri: str | None = None
    json_data: dict[str, Any] | None = Field(default=None, alias="json")

"""Request dependencies: the service context, the caller's key, its permission and rate limit.

Keys come in ``Authorization: Bearer <token>`` (or ``X-API-Key``). Every route declares the one
permission it needs with ``Depends(permission("banks:read"))``; there is no route without one
except ``/status`` and the OpenAPI documents.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from jaga.api.context import ServiceContext
from jaga.api.errors import RateLimited
from jaga.errors import JagaError


class MissingApiKey(JagaError):
    """No API key on a route that needs one."""


def get_context(request: Request) -> ServiceContext:
    context: ServiceContext = request.app.state.jaga
    return context


def _token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return request.headers.get("x-api-key") or None


async def current_principal(request: Request, *, anonymous_role: str | None = None) -> Any:
    """The authenticated key (``jaga.api.keys.Principal``), from cache or the database."""
    from jaga.api import keys

    context = get_context(request)
    token = _token(request)
    if token is None:
        if anonymous_role is not None:
            return keys.Principal(
                key_id=0, name="anonymous", role=anonymous_role, rate_limit_per_s=None
            )
        raise MissingApiKey("an API key is required: send 'Authorization: Bearer <key>'")
    digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
    principal: Any = context.auth_cache.get(digest)
    if principal is None:

        def lookup() -> Any:
            # immediate: authenticate may write last_used_at after reading; on SQLite a
            # deferred transaction that upgrades to a write fails at once ("database is
            # locked") if another process wrote in between.
            with context.db.session(immediate=True) as session:
                return keys.authenticate(session, token)

        principal = await run_in_threadpool(lookup)
        context.auth_cache.put(digest, principal)
    decision = context.limiter_for(principal.rate_limit_per_s).check(principal.key_id)
    if not decision.allowed:
        raise RateLimited(
            f"rate limit exceeded for key {principal.name!r}; retry in "
            f"{decision.retry_after_s:.1f}s",
            decision.retry_after_s,
        )
    return principal


def permission(name: str, *, hma: bool = False) -> Callable[[Request], Any]:
    """Dependency: the caller's principal, which must hold ``name``.

    ``hma=True`` marks HMA-compatible routes, where a configured anonymous role may stand in for
    a missing key (unchanged HMA clients send none).
    """

    async def dependency(request: Request) -> Any:
        from jaga.api import keys

        anonymous = get_context(request).config.hma_anonymous_role if hma else None
        principal = await current_principal(request, anonymous_role=anonymous)
        keys.require(principal, name)
        request.state.principal = principal
        return principal

    dependency.__name__ = f"permission_{name.replace(':', '_')}"
    return dependency


def actor(principal: Any) -> str:
    """How audit records name the caller."""
    return f"key:{principal.name}"

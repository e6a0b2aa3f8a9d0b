"""The FastAPI application: ``create_app()`` for ``jaga serve`` (uvicorn factory) and tests.

Routers are thin: they parse, check the caller's permission, call library functions in a thread
(hashing and database work are blocking), and shape the answer. Two families of routes: the
native API under ``/v1`` and Meta HMA 2.0's routes (``/h``, ``/m``, ``/c``, ``/status``).
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

import jaga
from jaga.api.config import ServiceConfig, load_config
from jaga.api.context import ServiceContext
from jaga.api.errors import install_error_handlers
from jaga.api.fastpath import MatchFastPath
from jaga.api.sockets import nodelay_on_listeners

#: Router modules under jaga.api.routes, each exposing ``router``; missing ones are skipped so the
#: service can grow one module at a time.
ROUTE_MODULES = ("status", "content", "match", "banks", "logs", "hma")


def create_app(config: ServiceConfig | None = None) -> FastAPI:
    config = config or load_config()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nodelay_on_listeners()  # inherited sockets of worker processes: see jaga.api.sockets
        context = ServiceContext(config)
        context.start()
        app.state.jaga = context
        try:
            yield
        finally:
            context.stop()

    app = FastAPI(
        title="Jaga",
        version=jaga.__version__,
        description="Hash, match and act on known abuse material. See docs/api.md.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    # The hot path: well-formed hash lookups skip FastAPI's per-request machinery (see module).
    app.add_middleware(MatchFastPath)
    for name in ROUTE_MODULES:
        try:
            module = importlib.import_module(f"jaga.api.routes.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"jaga.api.routes.{name}":
                raise
            continue
        app.include_router(module.router)
    return app


def app_from_env() -> FastAPI:
    """Uvicorn factory: ``uvicorn --factory jaga.api.app:app_from_env`` (config from env)."""
    import os

    return create_app(load_config(os.environ.get("JAGA_CONFIG") or None))

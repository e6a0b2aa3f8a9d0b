"""``jaga serve``: run the HTTP service (native ``/v1`` API and the HMA-compatible routes).

Uvicorn runs the app factory :func:`jaga.api.app.app_from_env`; with ``--workers N`` it starts N
processes that share the database. Each process keeps its own in-memory index and applies the
other processes' bank changes from the change feed every ``sync_interval_s`` (1 s by default),
so all of them match the same entries within seconds of a change.

One detail matters for speed: with several workers, uvicorn creates the shared listening socket
itself, and asyncio then does not turn Nagle's algorithm off on the connections it accepts
(it only does for sockets it knows to be TCP). Uvicorn writes a response's head and body
separately, so every answer would wait for the client's delayed ACK: about 40 ms per request.
:func:`serve` sets ``TCP_NODELAY`` on the listening socket, which accepted connections inherit.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Annotated

import typer

from jaga.api.config import load_config
from jaga.commands.common import user_errors
from jaga.store.db import open_database

APP_FACTORY = "jaga.api.app:app_from_env"


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    workers: int = 1,
    config: Path | None = None,
    log_level: str = "info",
    access_log: bool = True,
) -> None:
    """Run the service until interrupted (what ``jaga serve`` does; benchmarks call it too)."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    if config is not None:
        # Worker processes read the file themselves (they run the factory, not this function).
        os.environ["JAGA_CONFIG"] = str(config.resolve())
    settings = load_config(config)
    # Migrate once here, so N workers do not all start by racing to migrate.
    open_database(settings.database_url).close()
    options = uvicorn.Config(
        APP_FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level.lower(),
        access_log=access_log,
        server_header=False,
    )
    if workers == 1:
        uvicorn.Server(options).run()
        return
    listener = options.bind_socket()
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    Multiprocess(options, sockets=[listener]).run()


def serve_command(
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (0.0.0.0: every interface).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535)] = 8000,
    workers: Annotated[
        int, typer.Option("--workers", "-w", min=1, help="Server processes (share the database).")
    ] = 1,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="TOML settings file (JAGA_* variables override it).",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    log_level: Annotated[
        str, typer.Option("--log-level", help="critical, error, warning, info or debug.")
    ] = "info",
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="Log every request.")
    ] = True,
) -> None:
    """Serve the Jaga HTTP API (see docs/api.md). Stop with Ctrl-C."""
    with user_errors():
        serve(
            host,
            port,
            workers=workers,
            config=config,
            log_level=log_level,
            access_log=access_log,
        )

"""What every command shares: output files, progress bars, opening the store, typed-error exits."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn, TextIO

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from jaga.errors import JagaError
from jaga.settings import Settings, load_settings
from jaga.store.db import Database, open_database

err_console = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print a one-line error to stderr and exit."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn a JagaError raised inside the block into a one-line message and exit code 1."""
    try:
        yield
    except JagaError as error:
        fail(str(error))


@contextmanager
def open_output(out: Path | None) -> Iterator[TextIO]:
    """The --out file (created or truncated), or standard output."""
    if out is None:
        yield sys.stdout
        return
    try:
        handle = out.open("w", encoding="utf-8", newline="")
    except OSError as error:
        raise typer.BadParameter(
            f"cannot write {out}: {error.strerror}", param_hint="--out"
        ) from None
    with handle:
        yield handle


def progress_bar(verb: str) -> Progress:
    """A progress bar on standard error, shown only when it is a terminal."""
    console = Console(stderr=True)
    return Progress(
        TextColumn(f"[bold]{verb}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}", style="dim"),
        console=console,
        disable=not console.is_terminal,
        transient=True,
    )


def parse_signal_types(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise typer.BadParameter("name at least one signal type", param_hint="--signal")
    return names


def settings() -> Settings:
    return load_settings()


def database(url: str | None = None) -> Database:
    """The configured store (``JAGA_DATABASE_URL`` or SQLite under ``JAGA_HOME``), migrated."""
    with user_errors():
        return open_database(url or settings().database_url)

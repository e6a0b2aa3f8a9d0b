"""``jaga audit verify`` and ``jaga audit list``: check and read the tamper-evident audit log.

``verify`` exits 0 when the chain adds up and 1 when it does not, naming the first bad row; it
prints the head (newest seq and hash) to record somewhere outside the database, which is what
catches a log whose newest rows were cut off.
"""

from __future__ import annotations

import getpass
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from jaga.commands.common import database, err_console, user_errors
from jaga.store.audit import list_events, verify

audit_app = typer.Typer(
    no_args_is_help=True, help="The tamper-evident audit log: verify the chain, list events."
)


def cli_actor() -> str:
    """Who is acting from the command line, for the audit log: ``cli:<os user>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in this environment (some containers)
        return "cli"


@audit_app.command("verify")
def verify_command() -> None:
    """Recompute the hash chain (and HMAC anchors if JAGA_AUDIT_KEY is set); exit 1 if tampered."""
    db = database()
    with user_errors(), db.session() as session:
        result = verify(session)
    if not result.ok:
        err_console.print(
            f"[bold red]tampered:[/] first bad seq {result.first_bad_seq}: {result.message}",
            highlight=False,
        )
        raise typer.Exit(1)
    typer.echo(f"ok: {result.message}")
    typer.echo(f"head: seq {result.head_seq} hash {result.head_hash}")


@audit_app.command("list")
def list_command(
    after: Annotated[int, typer.Option("--after", min=0, help="Only events after this seq.")] = 0,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1000)] = 100,
    action: Annotated[
        str | None, typer.Option("--action", help="Only this action, e.g. key.create.")
    ] = None,
    target: Annotated[
        str | None, typer.Option("--target", help="Only this target, e.g. key:ingest.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List audit events in order (page with --after LAST_SEQ)."""
    db = database()
    with user_errors(), db.session() as session:
        events = list_events(session, after_seq=after, limit=limit, action=action, target=target)
    if as_json:
        for event in events:
            typer.echo(json.dumps(event.as_json(), ensure_ascii=False))
        return
    table = Table(show_lines=False)
    for column in ("seq", "at", "actor", "action", "target", "details"):
        table.add_column(column, overflow="fold")
    for event in events:
        table.add_row(
            str(event.seq),
            event.at.isoformat(timespec="seconds"),
            event.actor,
            event.action,
            event.target,
            json.dumps(event.details, ensure_ascii=False, sort_keys=True),
        )
    Console().print(table)

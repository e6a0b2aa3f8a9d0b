"""``jaga keys create|list|revoke``: API keys for the HTTP service.

``create`` prints the token once, on standard output (the rest goes to standard error), so
``TOKEN=$(jaga keys create ingest --role hasher)`` works; Jaga keeps only its digest.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from jaga.api.keys import ROLES, create_key, list_keys, revoke_key
from jaga.commands.audit import cli_actor
from jaga.commands.common import database, err_console, user_errors

keys_app = typer.Typer(no_args_is_help=True, help="API keys: create, list and revoke.")


@keys_app.command("create")
def create_command(
    name: Annotated[str, typer.Argument(help="A name for the key, e.g. the calling service.")],
    role: Annotated[str, typer.Option("--role", "-r", help=f"One of: {', '.join(ROLES)}.")],
    rate_limit: Annotated[
        float | None,
        typer.Option("--rate-limit", help="Requests per second for this key (default: server's)."),
    ] = None,
) -> None:
    """Create an API key and print its token (shown this once)."""
    db = database()
    with user_errors(), db.session() as session:
        principal, token = create_key(
            session, name, role, rate_limit_per_s=rate_limit, actor=cli_actor()
        )
    err_console.print(
        f"created API key {principal.name!r} (id {principal.key_id}, role {principal.role}); "
        "store the token now, it is not shown again:",
        highlight=False,
    )
    typer.echo(token)


def _stamp(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value is not None else ""


@keys_app.command("list")
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List API keys (never their secrets)."""
    db = database()
    with user_errors(), db.session() as session:
        keys = list_keys(session)
    if as_json:
        for key in keys:
            record = {
                "id": key.id,
                "name": key.name,
                "role": key.role,
                "prefix": key.prefix,
                "rate_limit_per_s": key.rate_limit_per_s,
                "created_by": key.created_by,
                "created_at": _stamp(key.created_at),
                "last_used_at": _stamp(key.last_used_at) or None,
                "revoked_at": _stamp(key.revoked_at) or None,
            }
            typer.echo(json.dumps(record))
        return
    table = Table()
    for column in (
        "id",
        "name",
        "role",
        "token starts",
        "rate/s",
        "created",
        "last used",
        "status",
    ):
        table.add_column(column, overflow="fold")
    for key in keys:
        table.add_row(
            str(key.id),
            key.name,
            key.role,
            f"jaga_{key.prefix}_",
            "" if key.rate_limit_per_s is None else f"{key.rate_limit_per_s:g}",
            _stamp(key.created_at),
            _stamp(key.last_used_at),
            "active" if key.active else f"revoked {_stamp(key.revoked_at)}",
        )
    Console().print(table)


@keys_app.command("revoke")
def revoke_command(
    key: Annotated[str, typer.Argument(help="The key's name or id.")],
) -> None:
    """Revoke an API key; requests with it are refused from now on."""
    db = database()
    with user_errors(), db.session() as session:
        principal = revoke_key(session, key, actor=cli_actor())
    typer.echo(f"revoked API key {principal.name!r} (id {principal.key_id})")

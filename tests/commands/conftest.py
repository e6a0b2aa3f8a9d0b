"""A ``jaga``-like app with the keys, audit, worker and actions commands, pointed at a test store.

The commands are mounted here the same way ``jaga.cli`` mounts them, so these tests do not
depend on how the top-level command is assembled.
"""

from __future__ import annotations

import pytest
import typer

from jaga.commands.audit import audit_app
from jaga.commands.keys import keys_app
from jaga.commands.worker import actions_app, worker_command
from jaga.store import Database


def build_app() -> typer.Typer:
    app = typer.Typer(no_args_is_help=True)
    app.add_typer(keys_app, name="keys")
    app.add_typer(audit_app, name="audit")
    app.add_typer(actions_app, name="actions")
    app.command("worker")(worker_command)
    return app


@pytest.fixture
def app(database: Database, db_url: str, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    """The app, with JAGA_DATABASE_URL naming the (migrated) test database."""
    monkeypatch.setenv("JAGA_DATABASE_URL", db_url)
    monkeypatch.delenv("JAGA_AUDIT_KEY", raising=False)
    return build_app()

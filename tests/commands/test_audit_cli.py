"""``jaga audit verify`` (exit 0 when intact, 1 with the first bad seq) and ``jaga audit list``."""

from __future__ import annotations

import json

import typer
from sqlalchemy import text
from typer.testing import CliRunner

from jaga.store import Database

runner = CliRunner()


def _flat(text: str) -> str:
    """Rich wraps messages at the terminal width; compare them as one line."""
    return " ".join(text.split())


def _make_events(app: typer.Typer) -> None:
    for name in ("a", "b", "c"):
        assert runner.invoke(app, ["keys", "create", name, "--role", "hasher"]).exit_code == 0
    assert runner.invoke(app, ["keys", "revoke", "b"]).exit_code == 0


def test_verify_ok(app: typer.Typer) -> None:
    _make_events(app)
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "ok: 4 row(s) verified" in result.stdout
    assert "head: seq 4 hash " in result.stdout


def test_verify_reports_tampering(app: typer.Typer, database: Database) -> None:
    _make_events(app)
    with database.engine.begin() as connection:
        if database.dialect == "postgresql":
            connection.execute(text("DROP TRIGGER audit_log_no_update_delete ON audit_log"))
        else:
            connection.execute(text("DROP TRIGGER audit_log_no_update"))
        connection.execute(text("UPDATE audit_log SET actor = 'nobody' WHERE seq = 2"))
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 1
    assert "first bad seq 2" in _flat(result.stderr)


def test_list(app: typer.Typer) -> None:
    _make_events(app)
    lines = runner.invoke(app, ["audit", "list", "--json"]).stdout.splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["action"] for e in events] == ["key.create"] * 3 + ["key.revoke"]
    assert events[3]["target"] == "key:b"
    revokes = runner.invoke(app, ["audit", "list", "--json", "--action", "key.revoke"])
    assert len(revokes.stdout.splitlines()) == 1
    paged = runner.invoke(app, ["audit", "list", "--json", "--after", "2", "--limit", "1"])
    assert [json.loads(line)["seq"] for line in paged.stdout.splitlines()] == [3]
    table = runner.invoke(app, ["audit", "list"])
    assert table.exit_code == 0
    assert "key.revoke" in table.stdout

"""``jaga keys create|list|revoke``: the token printed once, listings without secrets, errors."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from jaga.api.keys import RevokedApiKey, authenticate
from jaga.store import Database
from jaga.store.audit import list_events

runner = CliRunner()


def _flat(text: str) -> str:
    """Rich wraps messages at the terminal width; compare them as one line."""
    return " ".join(text.split())


def test_create_prints_the_token_once_on_stdout(app: typer.Typer, database: Database) -> None:
    result = runner.invoke(
        app, ["keys", "create", "ingest", "--role", "hasher", "--rate-limit", "20"]
    )
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert token.startswith("jaga_")
    assert "\n" not in token
    assert "not shown again" in _flat(result.stderr)
    with database.session() as session:
        principal = authenticate(session, token)
        (event,) = list_events(session, action="key.create")
    assert (principal.name, principal.role, principal.rate_limit_per_s) == ("ingest", "hasher", 20)
    assert event.actor.startswith("cli")


def test_list_never_shows_the_secret(app: typer.Typer) -> None:
    token = runner.invoke(app, ["keys", "create", "ingest", "--role", "admin"]).stdout.strip()
    secret = token.split("_", 2)[2]
    table = runner.invoke(app, ["keys", "list"])
    assert table.exit_code == 0
    assert "ingest" in table.stdout
    assert "admin" in table.stdout
    assert secret not in table.output
    lines = runner.invoke(app, ["keys", "list", "--json"]).stdout.splitlines()
    (record,) = [json.loads(line) for line in lines]
    assert (record["name"], record["role"], record["revoked_at"]) == ("ingest", "admin", None)
    assert secret not in json.dumps(record)


def test_revoke_by_name_and_id(app: typer.Typer, database: Database) -> None:
    token = runner.invoke(app, ["keys", "create", "a", "--role", "reviewer"]).stdout.strip()
    runner.invoke(app, ["keys", "create", "b", "--role", "curator"])
    result = runner.invoke(app, ["keys", "revoke", "a"])
    assert result.exit_code == 0, result.output
    assert "revoked API key 'a'" in result.stdout
    with database.session() as session, pytest.raises(RevokedApiKey):
        authenticate(session, token)
    record = json.loads(runner.invoke(app, ["keys", "list", "--json"]).stdout.splitlines()[1])
    assert runner.invoke(app, ["keys", "revoke", str(record["id"])]).exit_code == 0
    listed = runner.invoke(app, ["keys", "list", "--json"]).stdout.splitlines()
    assert all(json.loads(line)["revoked_at"] for line in listed)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["keys", "create", "x", "--role", "root"], "unknown role 'root'"),
        (["keys", "create", "bad name", "--role", "admin"], "invalid key name"),
        (["keys", "create", "x", "--role", "admin", "--rate-limit", "-1"], "positive"),
        (["keys", "revoke", "nobody"], "no API key 'nobody'"),
    ],
)
def test_bad_input_is_a_one_line_error(app: typer.Typer, args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert message in _flat(result.stderr)
    assert "Traceback" not in result.output


def test_duplicate_name(app: typer.Typer) -> None:
    assert runner.invoke(app, ["keys", "create", "x", "--role", "admin"]).exit_code == 0
    again = runner.invoke(app, ["keys", "create", "x", "--role", "admin"])
    assert again.exit_code == 1
    assert "already exists" in _flat(again.stderr)

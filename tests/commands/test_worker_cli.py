"""``jaga worker --once`` runs what is due; ``jaga actions list|retry|rules`` inspect the outbox."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from jaga.actions.outbox import ActionContext, enqueue, get_action
from jaga.actions.rules import PlannedAction
from jaga.matching.log import ContentContext, record_content
from jaga.store import Database

runner = CliRunner()


def _flat(text: str) -> str:
    """Rich wraps messages at the terminal width; compare them as one line."""
    return " ".join(text.split())


def _enqueue(database: Database, *types: str) -> list[int]:
    with database.session() as session:
        content = record_content(session, ContentContext("upload-1", uploader="u"), [])
        planned = [PlannedAction(t, "r", {}, "test", "content") for t in types]
        return enqueue(
            session,
            content_id=content.id,
            planned=planned,
            context=ActionContext(content.id, "upload-1", "u").as_json(),
        )


def test_worker_once_runs_due_actions(app: typer.Typer, database: Database) -> None:
    ids = _enqueue(database, "block", "review", "remove")
    result = runner.invoke(app, ["worker", "--once"], env={"JAGA_PLATFORM_WEBHOOK_URL": ""})
    assert result.exit_code == 0, result.output
    assert "ran 3 action(s)" in _flat(result.stderr)
    with database.session() as session:
        assert [get_action(session, i).status for i in ids] == ["done", "done", "failed"]


def test_actions_list_and_retry(app: typer.Typer, database: Database) -> None:
    (action_id,) = _enqueue(database, "disable_account")
    runner.invoke(app, ["worker", "--once"], env={"JAGA_PLATFORM_WEBHOOK_URL": ""})
    listed = runner.invoke(app, ["actions", "list", "--status", "failed", "--json"])
    (record,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert record["id"] == action_id
    assert "JAGA_PLATFORM_WEBHOOK_URL" in record["last_error"]
    table = runner.invoke(app, ["actions", "list"])
    assert table.exit_code == 0
    assert "1 failed" in _flat(table.stderr)
    retried = runner.invoke(app, ["actions", "retry", str(action_id)])
    assert retried.exit_code == 0, retried.output
    with database.session() as session:
        assert get_action(session, action_id).status == "pending"
    again = runner.invoke(app, ["actions", "retry", str(action_id)])
    assert again.exit_code == 1
    assert "only dead or failed" in _flat(again.stderr)
    bad = runner.invoke(app, ["actions", "list", "--status", "finished"])
    assert bad.exit_code == 1
    assert "unknown action status" in _flat(bad.stderr)


def test_actions_rules_checks_a_file(app: typer.Typer, tmp_path: Path) -> None:
    good = tmp_path / "rules.toml"
    good.write_text('[[rules]]\nname = "all"\nactions = ["block", "review"]\n', encoding="utf-8")
    result = runner.invoke(app, ["actions", "rules", str(good)])
    assert result.exit_code == 0, result.output
    assert "1 rule(s)" in result.stdout
    assert "all: banks * -> block, review" in result.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rules]]\nname = "x"\nactions = ["nuke"]\n', encoding="utf-8")
    result = runner.invoke(app, ["actions", "rules", str(bad)])
    assert result.exit_code == 1
    assert "unknown action type 'nuke'" in _flat(result.stderr)
    default = runner.invoke(app, ["actions", "rules"], env={"JAGA_RULES_FILE": ""})
    assert "<default rules>" in default.stdout

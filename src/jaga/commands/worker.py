"""``jaga worker``: run the action outbox as its own process; ``jaga actions``: inspect it.

``jaga serve`` runs a worker thread by default; run ``jaga worker`` (any number of them) to do
the work in separate processes instead. SIGTERM or Ctrl-C stops it after the action in hand;
a worker killed outright loses nothing (its actions run again when their lease ends).
``python -m jaga.commands.worker`` is the same command.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from jaga.actions.executors import ExecutorConfig, default_executors
from jaga.actions.outbox import count_by_status, list_actions, retry_dead
from jaga.actions.rules import RuleSet
from jaga.actions.worker import Worker, WorkerSettings
from jaga.commands.audit import cli_actor
from jaga.commands.common import database, err_console, user_errors
from jaga.store.models import ACTION_STATUSES


def worker_command(
    once: Annotated[
        bool, typer.Option("--once", help="Run what is due now, then exit (for cron).")
    ] = False,
    batch: Annotated[
        int | None, typer.Option("--batch", min=1, help="Actions claimed at a time.")
    ] = None,
    lease: Annotated[
        float | None,
        typer.Option("--lease", min=0.001, help="Seconds an action is leased before others retry."),
    ] = None,
    poll: Annotated[
        float | None, typer.Option("--poll", min=0.0, help="Seconds between polls when idle.")
    ] = None,
    worker_id: Annotated[
        str | None, typer.Option("--id", help="Name in leases and logs (default host:pid).")
    ] = None,
) -> None:
    """Run the action outbox worker: execute due actions, retry failures, dead-letter the rest.

    Tuning also comes from JAGA_WORKER_BATCH, _LEASE_S, _POLL_S, _MAX_ATTEMPTS, _BACKOFF_BASE_S
    and _BACKOFF_CAP_S; enforcement goes to JAGA_PLATFORM_WEBHOOK_URL.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    with user_errors():
        settings = WorkerSettings.from_env()
        config = ExecutorConfig.from_env()
    db = database()
    with user_errors():
        worker = Worker(
            db,
            default_executors(db, config),
            worker_id=worker_id,
            batch=batch or settings.batch,
            lease_s=lease or settings.lease_s,
            poll_s=settings.poll_s if poll is None else poll,
            max_attempts=settings.max_attempts,
            backoff_base_s=settings.backoff_base_s,
            backoff_cap_s=settings.backoff_cap_s,
        )
    if once:
        done = worker.drain()
        err_console.print(f"ran {done} action(s)", highlight=False)
        return
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger(__name__).info("signal %d: stopping after the action in hand", signum)
        stop.set()
        worker.stop(timeout=0)

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    worker.run_forever(stop)


actions_app = typer.Typer(
    no_args_is_help=True, help="The action outbox: list actions, requeue dead ones, check rules."
)


@actions_app.command("list")
def actions_list_command(
    status: Annotated[
        str | None, typer.Option("--status", help=f"One of: {', '.join(ACTION_STATUSES)}.")
    ] = None,
    action_type: Annotated[str | None, typer.Option("--type", help="e.g. webhook.")] = None,
    content: Annotated[int | None, typer.Option("--content", help="Only this content id.")] = None,
    after: Annotated[int, typer.Option("--after", min=0, help="Only ids after this one.")] = 0,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1000)] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List actions (dead letters: --status dead)."""
    db = database()
    with user_errors(), db.session() as session:
        actions = list_actions(
            session,
            status=status,
            type=action_type,
            content_id=content,
            after_id=after,
            limit=limit,
        )
        counts = count_by_status(session)
    if as_json:
        for action in actions:
            typer.echo(json.dumps(action.as_json(), ensure_ascii=False))
        return
    table = Table()
    for column in ("id", "content", "type", "rule", "status", "attempts", "last error"):
        table.add_column(column, overflow="fold")
    for action in actions:
        table.add_row(
            str(action.id),
            str(action.content_id),
            action.type,
            action.rule,
            action.status,
            str(action.attempts),
            action.last_error or "",
        )
    Console().print(table)
    err_console.print(", ".join(f"{n} {s}" for s, n in counts.items()), highlight=False)


@actions_app.command("retry")
def actions_retry_command(
    action_id: Annotated[int, typer.Argument(help="Id of a dead or failed action.")],
) -> None:
    """Requeue a dead (or failed) action with a fresh set of attempts."""
    db = database()
    with user_errors(), db.session() as session:
        retry_dead(session, action_id, actor=cli_actor())
    typer.echo(f"action {action_id} requeued")


@actions_app.command("rules")
def actions_rules_command(
    path: Annotated[
        Path | None, typer.Argument(help="Rules file to check (default: JAGA_RULES_FILE).")
    ] = None,
) -> None:
    """Check a rules file and print the rules it defines (exit 1 with the error if bad)."""
    with user_errors():
        rules = RuleSet.load(path) if path is not None else RuleSet.configured()
    typer.echo(f"{rules.source}: {len(rules.rules)} rule(s)")
    for rule in rules.rules:
        actions = ", ".join(
            a.type + (f" -> {a.params['url']}" if a.type == "webhook" else "") for a in rule.actions
        )
        typer.echo(f"  {rule.name}: banks {', '.join(rule.banks)} -> {actions}")


def main() -> None:
    typer.run(worker_command)


if __name__ == "__main__":
    main()

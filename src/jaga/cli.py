"""The ``jaga`` command: assembles the sub-commands of :mod:`jaga.commands`.

Each sub-command is a thin shell over library functions; none holds logic the HTTP service or
the batch engine lacks.
"""

from __future__ import annotations

import typer

from jaga.commands import audit as audit_cmd
from jaga.commands import bank as bank_cmd
from jaga.commands import eval as eval_cmd
from jaga.commands import hash as hash_cmd
from jaga.commands import keys as keys_cmd
from jaga.commands import scan as scan_cmd
from jaga.commands import serve as serve_cmd
from jaga.commands import worker as worker_cmd

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Jaga: find, stop and report known abuse material by hashing and matching media.",
)


@app.callback()
def main() -> None:
    """Jaga: find, stop and report known abuse material by hashing and matching media."""


app.command("hash")(hash_cmd.hash_command)
app.command("scan")(scan_cmd.scan_command)
app.add_typer(bank_cmd.app, name="bank")
app.command("serve")(serve_cmd.serve_command)
app.command("worker")(worker_cmd.worker_command)
app.add_typer(worker_cmd.actions_app, name="actions")
app.add_typer(keys_cmd.keys_app, name="keys")
app.add_typer(audit_cmd.audit_app, name="audit")
app.add_typer(eval_cmd.app, name="eval")

"""``jaga eval robustness DATA_DIR``: how much of what offenders do to images Jaga still catches.

A shell over :func:`jaga.eval.robustness.run`; writes markdown, JSON and a plot into ``--out``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from jaga.commands.common import err_console, user_errors

app = typer.Typer(no_args_is_help=True, help="Evaluations of detection quality.")


def _names(text: str | None) -> list[str] | None:
    return [n.strip() for n in text.split(",") if n.strip()] if text else None


@app.command("robustness")
def robustness_command(
    data_dir: Annotated[Path, typer.Argument(help="Folder of original photos (e.g. a corpus).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the report.")] = Path(
        "robustness-out"
    ),
    limit: Annotated[int | None, typer.Option(help="Use the first N originals.")] = None,
    methods: Annotated[str | None, typer.Option(help="Comma-separated method names.")] = None,
    transforms: Annotated[str | None, typer.Option(help="Comma-separated transform names.")] = None,
    quick: Annotated[bool, typer.Option(help="12 originals and a small lookup index.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the transforms.")] = 0,
    bank_size: Annotated[int | None, typer.Option(help="Bank images for lookup timing.")] = None,
) -> None:
    """Recall per edit (crop, pad, rotate, ...) per method, unrelated-pair distances, cost."""
    from jaga.eval.robustness import run

    with user_errors():
        report = run(
            data_dir,
            out,
            methods=_names(methods),
            transforms=_names(transforms),
            quick=quick,
            limit=limit,
            seed=seed,
            bank_size=bank_size,
            progress=lambda message: err_console.print(message, highlight=False),
        )
    typer.echo(report.to_markdown())
    err_console.print(f"report written to {out}", highlight=False)

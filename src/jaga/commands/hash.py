"""``jaga hash PATH...``: one JSON line (or CSV rows) per file with every signal of its content.

Uses :mod:`jaga.signals.batch` -- the same walking, pool and error records as ``jaga scan``.
"""

from __future__ import annotations

import csv
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from jaga.commands.common import open_output, parse_signal_types, progress_bar
from jaga.errors import JagaError
from jaga.signals.batch import CSV_FIELDS, csv_rows, hash_files, iter_files, result_record
from jaga.signals.hashing import ALL_SIGNAL_TYPES, HashOptions


class OutputFormat(StrEnum):
    jsonl = "jsonl"
    csv = "csv"


def hash_command(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Files or folders (walked recursively; hidden entries skipped)."),
    ],
    signal: Annotated[
        str,
        typer.Option(
            "--signal", "-s", help="Comma-separated signal types to compute.", show_default=True
        ),
    ] = ",".join(ALL_SIGNAL_TYPES),
    output_format: Annotated[
        OutputFormat,
        typer.Option("--format", "-f", help="jsonl: one line per file; csv: one row per signal."),
    ] = OutputFormat.jsonl,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="Worker processes.")] = 1,
    exact: Annotated[
        bool, typer.Option("--exact", help="Decode at full resolution (PDQ identical to Meta's).")
    ] = False,
    dihedral: Annotated[
        bool, typer.Option("--dihedral", help="Also the 7 rotated/flipped PDQ hashes.")
    ] = False,
    variants: Annotated[
        bool,
        typer.Option(
            "--variants",
            help="Also the PDQ signal variants that jaga scan and the API look up (turned back, "
            "mirrored, centre crops, border trimmed, UI frame, rotation undone), each named in "
            "'variant'; see docs/evaluation.md.",
        ),
    ] = False,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write records here, not to stdout.")
    ] = None,
) -> None:
    """Hash media files: PDQ for images, vPDQ for video, MD5/SHA-1/SHA-256 for everything.

    Bad files get an error record and the batch goes on; the exit code is 1 if any file failed.
    """
    try:
        options = HashOptions(
            signal_types=parse_signal_types(signal),
            exact=exact,
            dihedral=dihedral,
            variants=variants,
        )
    except JagaError as error:
        raise typer.BadParameter(str(error), param_hint="--signal") from None
    files = list(iter_files(paths))
    failed = 0
    with open_output(out) as stream, progress_bar("hashing") as progress:
        task = progress.add_task("", total=len(files))
        writer = None
        if output_format is OutputFormat.csv:
            writer = csv.DictWriter(stream, fieldnames=CSV_FIELDS, lineterminator="\n")
            writer.writeheader()
        for result in hash_files(files, options, workers):
            if not result.ok:
                failed += 1
            if writer is not None:
                writer.writerows(csv_rows(result))
            else:
                stream.write(json.dumps(result_record(result), ensure_ascii=False) + "\n")
            stream.flush()
            progress.update(task, advance=1, description=Path(result.path).name)
    typer.echo(f"hashed {len(files) - failed} file(s), {failed} failed", err=True)
    if failed:
        raise typer.Exit(1)

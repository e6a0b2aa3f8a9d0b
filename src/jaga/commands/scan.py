"""``jaga scan PATH... --bank NAME``: hash files, match them against banks, report the matches.

The main job of Jaga on one machine. Exit codes: 0 no match, 2 matches found (even if some files
failed: a match must never be hidden behind an error code), 1 errors and no match.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from jaga.banks.service import get_bank
from jaga.commands.common import (
    database,
    err_console,
    open_output,
    progress_bar,
    settings,
    user_errors,
)
from jaga.errors import JagaError
from jaga.matching.live import LiveMatcher
from jaga.matching.log import ContentContext, EntryDetails, entry_details, record_content
from jaga.matching.matcher import MatchPolicy
from jaga.matching.types import Match, MatchOutcome
from jaga.signals.batch import FileResult, hash_files, iter_files
from jaga.signals.hashing import HashOptions
from jaga.store.db import Database

EXIT_MATCHES = 2


@dataclass(frozen=True)
class ScanTotals:
    files: int = 0
    matched: int = 0
    failed: int = 0
    cancelled: int = 0


def match_record(
    result: FileResult, outcome: MatchOutcome, details: dict[int, EntryDetails]
) -> dict[str, Any]:
    """The JSON line written for a file with matches (or cancelled matches)."""

    def one(m: Match) -> dict[str, Any]:
        info = details.get(m.entry_id)
        record: dict[str, Any] = {
            "bank": m.bank_name,
            "entry_id": m.entry_id,
            "signal_type": m.signal_type,
            "distance": m.distance,
            "variant": m.query.variant,
            "entry_variant": m.entry_variant,
            "frame": m.query.frame,
            "labels": list(info.labels) if info else [],
            "external_id": info.external_id if info else "",
        }
        if m.query_percent is not None:
            record["query_percent"] = round(m.query_percent, 2)
            record["target_percent"] = round(m.target_percent or 0.0, 2)
        return record

    return {
        "path": result.path,
        "matches": [one(m) for m in outcome.matches],
        "cancelled_by_allow_list": [one(m) for m in outcome.cancelled],
        "allow_list": [one(m) for m in outcome.allowed],
    }


def _bank_ids(db: Database, names: list[str]) -> list[int] | None:
    if not names:
        return None
    with user_errors(), db.session() as session:
        banks = [get_bank(session, name) for name in names]
    for bank in banks:
        if not bank.enabled:
            # Disabled banks are not in the index: say so rather than report a clean scan.
            err_console.print(
                f"[yellow]warning:[/] bank {escape(repr(bank.name))} is disabled: "
                "nothing is matched against it",
                highlight=False,
                soft_wrap=True,
            )
    return [bank.id for bank in banks]


def scan_command(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (walked recursively).")],
    bank: Annotated[
        list[str] | None,
        typer.Option("--bank", "-b", help="Bank to match against (repeat); default: all enabled."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write one JSON line per matched file.")
    ] = None,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="Worker processes.")] = 1,
    exact: Annotated[
        bool, typer.Option("--exact", help="Decode at full resolution (PDQ identical to Meta's).")
    ] = False,
    dihedral: Annotated[
        bool,
        typer.Option(
            "--dihedral/--no-dihedral", help="Also match the 7 rotated/flipped PDQ hashes."
        ),
    ] = True,
    variants: Annotated[
        bool,
        typer.Option(
            "--variants/--no-variants",
            help="Also match PDQ hashes of each image turned, mirrored, centre-cropped, without "
            "its border or frame, and with a small rotation undone (about 10x the hashing time; "
            "finds most padded, letterboxed, screenshotted, rotated and turned copies).",
        ),
    ] = True,
    min_quality: Annotated[
        int, typer.Option(min=0, max=100, help="PDQ/vPDQ hashes under this quality are skipped.")
    ] = 50,
    record: Annotated[
        bool,
        typer.Option("--record/--no-record", help="Write matched files to the match log."),
    ] = True,
) -> None:
    """Hash files and match them against hash banks; print and log every match."""
    db = database()
    bank_ids = _bank_ids(db, bank or [])
    with user_errors():
        matcher = LiveMatcher(
            db, index_dir=settings().index_dir, policy=MatchPolicy(min_quality=min_quality)
        ).open()
    options = HashOptions(exact=exact, dihedral=dihedral, variants=variants)
    files = list(iter_files(paths))
    totals = ScanTotals()
    rows: list[tuple[str, Match, EntryDetails | None]] = []
    with open_output(out) as stream, progress_bar("scanning") as progress:
        task = progress.add_task("", total=len(files))
        for result in hash_files(files, options, workers):
            progress.update(task, advance=1, description=Path(result.path).name)
            totals = ScanTotals(totals.files + 1, totals.matched, totals.failed, totals.cancelled)
            if result.hashes is None:
                assert result.error is not None
                totals = ScanTotals(
                    totals.files, totals.matched, totals.failed + 1, totals.cancelled
                )
                err_console.print(
                    # Escaped: a file named "a[/b].jpg" is text, not markup.
                    f"[yellow]skipped[/] {escape(result.path)}: {escape(result.error.type)}: "
                    f"{escape(result.error.message)}",
                    highlight=False,
                    soft_wrap=True,  # never break a path: it is copied and grepped
                )
                continue
            outcome = matcher.match(result.hashes.signals, bank_ids=bank_ids)
            if not outcome.all():
                continue
            with db.session() as session:
                details = entry_details(session, [m.entry_id for m in outcome.all()])
                if record:
                    record_content(session, _context(result), result.hashes.signals, outcome)
            stream.write(json.dumps(match_record(result, outcome, details)) + "\n")
            stream.flush()
            shown = display_path(result.path, paths)
            rows.extend((shown, m, details.get(m.entry_id)) for m in outcome.matches)
            totals = ScanTotals(
                totals.files,
                totals.matched + bool(outcome.matches),
                totals.failed,
                totals.cancelled + bool(outcome.cancelled),
            )
    _checkpoint(matcher)
    # Without --out the JSON lines are on standard output: keep it parseable, table to stderr.
    _print_summary(rows, totals, err_console if out is None else Console())
    if totals.matched:
        raise typer.Exit(EXIT_MATCHES)
    if totals.failed:
        raise typer.Exit(1)


def _checkpoint(matcher: LiveMatcher) -> None:
    """Save the index for the next run; failing to only makes that run slower, so it must not
    turn a scan that found matches into a crash (exit 1 would hide them)."""
    try:
        matcher.checkpoint()
    except (OSError, JagaError) as error:
        err_console.print(
            f"[yellow]warning:[/] could not save the index: {escape(str(error))}",
            highlight=False,
            soft_wrap=True,
        )


def _context(result: FileResult) -> ContentContext:
    hashes = result.hashes
    assert hashes is not None
    return ContentContext(
        external_id=str(Path(result.path).resolve()),
        kind=hashes.kind,
        size=hashes.size,
        format=hashes.format,
    )


def display_path(path: str, roots: list[Path]) -> str:
    """A file as the table shows it: relative to the scanned folder's parent, so that the name
    of the folder stays and long absolute prefixes go (the JSON lines keep the full path)."""
    file = Path(path)
    for root in roots:
        if root.is_dir() and file.is_relative_to(root):
            return str(file.relative_to(root.parent)) if root.parent != root else path
    return path


def _print_summary(
    rows: list[tuple[str, Match, EntryDetails | None]], totals: ScanTotals, console: Console
) -> None:
    if rows:
        table = Table(title="Matches", show_lines=False)
        for column in ("file", "bank", "entry", "signal", "distance", "how", "labels"):
            table.add_column(column, overflow="fold")
        for path, m, info in rows:
            how = m.query.variant or "as is"
            if m.entry_variant:
                how += f" ~ bank {m.entry_variant}"
            if m.query.frame is not None:
                how += f", frame {m.query.frame}"
            cells = (
                path,
                m.bank_name,
                str(m.entry_id),
                m.signal_type,
                str(m.distance),
                how,
                " ".join(info.labels) if info else "",
            )
            table.add_row(*(escape(cell) for cell in cells))  # paths and labels are not markup
        console.print(table)
    summary = f"scanned {totals.files} file(s): {totals.matched} matched, {totals.failed} failed"
    if totals.cancelled:
        summary += f", {totals.cancelled} cancelled by an allow-list"
    err_console.print(summary, highlight=False, soft_wrap=True)

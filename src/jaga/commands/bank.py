"""``jaga bank ...``: create, list, import, export, add to and disable entries of hash banks.

Every change runs in one transaction with its change-feed rows (running servers pick it up
within seconds) and its audit record.
"""

from __future__ import annotations

import getpass
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from jaga.banks import service
from jaga.banks.importer import export_bank, import_file
from jaga.commands.common import database, err_console, fail, progress_bar, user_errors
from jaga.errors import InvalidInput
from jaga.signals.batch import hash_files, iter_files
from jaga.signals.hashing import HashOptions
from jaga.signals.registry import get_signal_type
from jaga.store.audit import append as audit
from jaga.store.db import Database

app = typer.Typer(no_args_is_help=True, help="Manage hash banks and their entries.")


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _thresholds(items: list[str] | None) -> dict[str, int] | None:
    if not items:
        return None
    out: dict[str, int] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not value.strip().lstrip("-").isdigit():
            raise typer.BadParameter(
                f"expected TYPE=DISTANCE, got {item!r}", param_hint="--threshold"
            )
        out[name.strip()] = int(value)
    return out


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Bank name (letters, digits, . _ -).")],
    kind: Annotated[
        str, typer.Option(help="known: known material; allow: known false positives.")
    ] = "known",
    threshold: Annotated[
        list[str] | None, typer.Option(help="Per-signal-type distance, e.g. pdq=31 (repeat).")
    ] = None,
    description: Annotated[str, typer.Option(help="Free text.")] = "",
    disabled: Annotated[bool, typer.Option("--disabled", help="Create it switched off.")] = False,
) -> None:
    """Create a bank."""
    db = database()
    with user_errors(), db.session() as session:
        bank = service.create_bank(
            session,
            name,
            kind=kind,
            thresholds=_thresholds(threshold),
            description=description,
            enabled=not disabled,
        )
        audit(
            session,
            actor=_actor(),
            action="bank.create",
            target=f"bank:{bank.name}",
            details={"kind": bank.kind, "thresholds": bank.thresholds},
        )
    typer.echo(f"created bank {name!r} ({kind})")


@app.command("list")
def list_() -> None:
    """List banks with their entry counts."""
    db = database()
    table = Table(title="Banks")
    for column in ("name", "kind", "enabled", "entries", "thresholds", "description"):
        table.add_column(column)
    with user_errors(), db.session() as session:
        for bank in service.list_banks(session):
            counts = service.entry_counts(session, bank)
            extra = service.entry_counts(session, bank, variants=True)
            entries = (
                ", ".join(
                    f"{k} {v}" + (f" (+{extra[k]} variant hashes)" if extra.get(k) else "")
                    for k, v in sorted(counts.items())
                )
                or "0"
            )
            thresholds = ", ".join(f"{k}={v}" for k, v in sorted((bank.thresholds or {}).items()))
            cells = (
                bank.name,
                bank.kind,
                "yes" if bank.enabled else "no",
                entries,
                thresholds or "defaults",
                bank.description,
            )
            table.add_row(*(escape(cell) for cell in cells))  # a description is not markup
    Console().print(table)


@app.command("update")
def update(
    name: str,
    threshold: Annotated[list[str] | None, typer.Option(help="TYPE=DISTANCE (repeat).")] = None,
    enabled: Annotated[
        bool | None, typer.Option("--enable/--disable", help="Switch on or off.")
    ] = None,
    description: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Change a bank's thresholds, state or description."""
    db = database()
    with user_errors(), db.session() as session:
        bank = service.update_bank(
            session,
            name,
            thresholds=_thresholds(threshold),
            enabled=enabled,
            description=description,
        )
        audit(
            session,
            actor=_actor(),
            action="bank.update",
            target=f"bank:{bank.name}",
            details={"thresholds": bank.thresholds, "enabled": bank.enabled},
        )
    typer.echo(f"updated bank {name!r}")


@app.command("delete")
def delete(
    name: str,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a bank and all its entries."""
    if not yes and not typer.confirm(f"delete bank {name!r} and all its entries?"):
        raise typer.Exit(1)
    db = database()
    with user_errors(), db.session() as session:
        removed = service.delete_bank(session, name)
        audit(
            session,
            actor=_actor(),
            action="bank.delete",
            target=f"bank:{name}",
            details={"entries": removed},
        )
    typer.echo(f"deleted bank {name!r} and {removed} entries")


@app.command("import")
def import_(
    name: str,
    file: Annotated[Path, typer.Argument(help="Hash list to import.")],
    format: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="csv, tsv, threatexchange, ncmec, stopncii (default: from the file name).",
        ),
    ] = None,
    source: Annotated[
        str | None, typer.Option(help="Provenance recorded on each entry (default: file name).")
    ] = None,
    signal_type: Annotated[
        str | None, typer.Option(help="Signal type for rows that do not name one.")
    ] = None,
) -> None:
    """Import a hash list; a bad record anywhere imports nothing and names its line."""
    db = database()
    with user_errors(), db.session() as session:
        report = import_file(session, name, file, format, source, signal_type=signal_type)
        audit(
            session,
            actor=_actor(),
            action="bank.import",
            target=f"bank:{name}",
            details={
                "file": file.name,
                "format": report.format,
                "added": report.added,
                "duplicates": report.duplicates,
                "removed": report.removed,
            },
        )
    skipped = "".join(f", skipped {n} ({why})" for why, n in sorted(report.skipped.items()))
    typer.echo(
        f"imported {report.records} record(s) from {file} ({report.format}): {report.added} added, "
        f"{report.duplicates} duplicate(s), {report.removed} removed{skipped}"
    )


@app.command("export")
def export(
    name: str,
    format: Annotated[
        str, typer.Option("--format", "-f", help="csv, tsv, threatexchange, ncmec, stopncii.")
    ] = "csv",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="File to write (default: stdout).")
    ] = None,
    signal_type: Annotated[str | None, typer.Option(help="Only this signal type.")] = None,
) -> None:
    """Export a bank's entries."""
    db = database()
    with user_errors(), db.session() as session:
        if out is None:
            count = export_bank(session, name, sys.stdout.buffer, format, signal_type=signal_type)
            sys.stdout.flush()
        else:
            count = export_bank(session, name, out, format, signal_type=signal_type)
    err_console.print(f"exported {count} entries", highlight=False)


@app.command("add")
def add(
    name: str,
    files: Annotated[
        list[Path] | None, typer.Argument(help="Media files to hash and add (folders walked).")
    ] = None,
    hash_: Annotated[
        list[str] | None, typer.Option("--hash", help="A hash to add as is (repeat).")
    ] = None,
    signal_type: Annotated[str, typer.Option(help="Signal type of --hash values.")] = "pdq",
    signals: Annotated[
        str, typer.Option(help="For files: which of their signals to add.")
    ] = "pdq,vpdq,md5",
    labels: Annotated[list[str] | None, typer.Option(help="Labels, e.g. A1 (repeat).")] = None,
    source: Annotated[str, typer.Option(help="Provenance, e.g. reviewer or exchange.")] = "cli",
    external_id: Annotated[str, typer.Option(help="Id in the source system.")] = "",
    variants: Annotated[
        bool | None,
        typer.Option(
            "--variants/--no-variants",
            help="For image files: also store PDQ hashes of central crops, the image without "
            "its border and its centred square, so cropped copies match (default: on for "
            "known-material banks, off for allow-lists).",
        ),
    ] = None,
) -> None:
    """Add hashes, given as hex or computed from media files (e.g. confirmed by a reviewer)."""
    if not files and not hash_:
        fail("give media files or --hash values to add")
    names = [n.strip() for n in signals.split(",") if n.strip()]
    if not names:
        raise typer.BadParameter("name at least one signal type", param_hint="--signals")
    items: list[tuple[str, bytes | str, str, list[tuple[str, bytes]]]] = []
    with user_errors():
        # Canonical names: an alias (pdq256) must select the signals hashing names pdq.
        wanted = {get_signal_type(name).name for name in names}
        for text in hash_ or []:
            items.append((get_signal_type(signal_type).name, text, external_id, []))
    failed = 0
    db = database()
    if files:
        if variants is None:
            variants = _variants_by_default(db, name)
        options = HashOptions(
            signal_types=tuple(sorted(wanted | {"md5"})),
            exact=True,
            bank_variants=variants and "pdq" in wanted,
        )
        paths = list(iter_files(files))
        with progress_bar("hashing") as progress:
            task = progress.add_task("", total=len(paths))
            for result in hash_files(paths, options):
                progress.update(task, advance=1, description=Path(result.path).name)
                if result.hashes is None:
                    assert result.error is not None
                    failed += 1
                    err_console.print(
                        f"[yellow]skipped[/] {escape(result.path)}: {escape(result.error.message)}",
                        highlight=False,
                        soft_wrap=True,
                    )
                    continue
                ident = external_id or Path(result.path).name
                # A still image's bank-side variants belong to its one plain PDQ entry.
                extra = [(s.variant, s.value) for s in result.hashes.bank_variants]
                for signal in result.hashes.signals:
                    if (
                        signal.signal_type in wanted
                        and signal.signal_type != "vpdq"
                        and not signal.variant
                    ):
                        mine = extra if signal.signal_type == "pdq" else []
                        items.append((signal.signal_type, signal.value, ident, mine))
                video = result.hashes.vpdq_value() if result.hashes.kind == "video" else None
                if "vpdq" in wanted and video is not None:  # None: no frame could be hashed
                    items.append(("vpdq", video, ident, []))
    added = duplicates = variant_rows = 0
    with user_errors(), db.session() as session:
        for st, value, ident, extra in items:
            result_entry = service.add_entry(
                session,
                name,
                st,
                value,
                labels=labels or (),
                source=source,
                external_id=ident,
                variants=extra,
            )
            added += result_entry.created
            duplicates += not result_entry.created
            variant_rows += result_entry.variants
        audit(
            session,
            actor=_actor(),
            action="bank.add",
            target=f"bank:{name}",
            details={
                "added": added,
                "duplicates": duplicates,
                "variant_hashes": variant_rows,
                "source": source,
            },
        )
    typer.echo(
        f"added {added} entr{'y' if added == 1 else 'ies'} to {name!r}"
        + (f", {duplicates} already there" if duplicates else "")
        + (f" ({variant_rows} variant hashes with them)" if variant_rows else "")
    )
    if failed:
        raise typer.Exit(1)


def _variants_by_default(db: Database, bank: str) -> bool:
    """Variant hashes by default for known material, not for allow-lists: an allow-list
    entry's variants would cancel matches of more edited copies, and a wrongly allowed copy
    is a missed report."""
    with user_errors(), db.session() as session:
        return service.get_bank(session, bank).kind != "allow"


def _parse_until(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"--until must be an ISO date or datetime, got {text!r}") from None


@app.command("disable")
def disable(
    name: str,
    entry_ids: Annotated[list[int], typer.Argument(help="Entry ids.")],
    until: Annotated[
        str | None, typer.Option(help="ISO date/time; default: until enabled again.")
    ] = None,
) -> None:
    """Stop entries matching (false positives under review, withdrawn hashes)."""
    db = database()
    with user_errors(), db.session() as session:
        moment = _parse_until(until)
        bank = service.get_bank(session, name)  # an unknown bank is named as such
        for entry_id in entry_ids:
            service.disable_entry(session, entry_id, moment, bank=bank)
        audit(
            session,
            actor=_actor(),
            action="entry.disable",
            target=f"bank:{name}",
            details={"entries": entry_ids, "until": until},
        )
    typer.echo(
        f"disabled {len(entry_ids)} entr{'y' if len(entry_ids) == 1 else 'ies'}"
        + (f" until {until}" if until else "")
    )


@app.command("enable")
def enable(name: str, entry_ids: Annotated[list[int], typer.Argument(help="Entry ids.")]) -> None:
    """Let disabled entries match again."""
    db = database()
    with user_errors(), db.session() as session:
        bank = service.get_bank(session, name)  # an unknown bank is named as such
        for entry_id in entry_ids:
            service.enable_entry(session, entry_id, bank=bank)
        audit(
            session,
            actor=_actor(),
            action="entry.enable",
            target=f"bank:{name}",
            details={"entries": entry_ids},
        )
    typer.echo(f"enabled {len(entry_ids)} entr{'y' if len(entry_ids) == 1 else 'ies'}")

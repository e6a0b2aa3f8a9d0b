"""Banks and their entries: validation and orchestration over a Session (SQL lives in store).

Every function works inside the caller's transaction (``with database.session() as session``)
and writes the change-feed rows for what it changed in that same transaction, so a reader of the
feed never sees an entry change without its row or the reverse.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from sqlalchemy.orm import Session

import jaga.signals  # noqa: F401  (registers the built-in signal types)
from jaga.banks.errors import (
    DuplicateBank,
    InvalidBankName,
    InvalidBankSetting,
    InvalidEntry,
    InvalidLabel,
    UnknownBank,
    UnknownEntry,
)
from jaga.banks.records import EntryRecord
from jaga.banks.sync import (
    active_hashes,
    changes_since,
    is_variable_size,
    iter_active_hashes,
    iter_active_hashes_by_bank,
    latest_change_seq,
    release_expired_disables,
)
from jaga.errors import InvalidInput, JagaError
from jaga.signals.base import SignalType
from jaga.signals.registry import get_signal_type
from jaga.store import repo_banks, repo_changes, repo_entries
from jaga.store.bulk import EntryRow, insert_entry_rows
from jaga.store.models import BANK_KINDS, FOREVER, MAX_INLINE_KEY, Bank, BankEntry, value_key
from jaga.store.types import as_utc, utcnow

BANK_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
#: A variant row's name: a family and an optional ``:number`` (``trim``, ``crop:8``).
VARIANT_NAME: Final = re.compile(r"[a-z][a-z0-9_]{0,23}(:[0-9]{1,4})?")
LABEL: Final = re.compile(r"[^\s,]{1,64}")
MAX_LABELS_TEXT: Final = 1024
MAX_TEXT: Final = 255
DEFAULT_CHUNK: Final = 20_000
#: A bulk change touching more entries than this goes on the feed as one whole-bank change.
BANK_RELOAD_AFTER: Final = 10_000

BankRef = Bank | str | int

__all__ = [
    "AddedEntry",
    "ApplyReport",
    "BankRef",
    "EntryPage",
    "active_hashes",
    "add_entries",
    "add_entry",
    "add_variants",
    "apply_records",
    "bank_threshold",
    "changes_since",
    "create_bank",
    "delete_bank",
    "delete_entry",
    "disable_entry",
    "enable_entry",
    "entry_counts",
    "entry_variants",
    "find_entry",
    "get_bank",
    "get_entry",
    "iter_active_hashes",
    "iter_active_hashes_by_bank",
    "latest_change_seq",
    "list_banks",
    "normalize_labels",
    "page_entries",
    "release_expired_disables",
    "update_bank",
    "validate_bank_name",
]


# -- banks -------------------------------------------------------------------------------------


def validate_bank_name(name: str) -> str:
    if not isinstance(name, str) or not BANK_NAME.fullmatch(name):
        raise InvalidBankName(
            f"invalid bank name {name!r}: use 1-64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return name


def _validate_kind(kind: str) -> str:
    if kind not in BANK_KINDS:
        raise InvalidBankSetting(f"bank kind must be one of {', '.join(BANK_KINDS)}, got {kind!r}")
    return kind


def _validate_thresholds(thresholds: object) -> dict[str, int]:
    if not isinstance(thresholds, dict):
        raise InvalidBankSetting("thresholds must be a mapping of signal type to distance")
    cleaned: dict[str, int] = {}
    for name, value in thresholds.items():
        st = get_signal_type(str(name))
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidBankSetting(f"{st.name} threshold must be an integer, got {value!r}")
        limit = 0 if st.kind == "exact" else 8 * st.size
        if not 0 <= value <= limit:
            raise InvalidBankSetting(
                f"{st.name} threshold must be between 0 and {limit}, got {value}"
            )
        cleaned[st.name] = value
    return cleaned


def bank_threshold(bank: Bank, signal_type: str) -> int:
    """The distance at or under which a hash matches this bank (the type's default if unset)."""
    st = get_signal_type(signal_type)
    return int((bank.thresholds or {}).get(st.name, st.default_threshold))


def create_bank(
    session: Session,
    name: str,
    *,
    kind: str = "known",
    thresholds: dict[str, int] | None = None,
    description: str = "",
    enabled: bool = True,
) -> Bank:
    validate_bank_name(name)
    _validate_kind(kind)
    cleaned = _validate_thresholds(thresholds or {})
    existing = [n for n in repo_banks.names(session) if n.lower() == name.lower()]
    if existing:
        raise DuplicateBank(f"a bank named {existing[0]!r} exists already")
    bank = repo_banks.add(
        session,
        Bank(
            name=name,
            kind=kind,
            thresholds=cleaned,
            description=description,
            enabled=bool(enabled),
        ),
    )
    repo_changes.append_bank_change(session, "add", bank.id)
    return bank


def get_bank(session: Session, bank: BankRef) -> Bank:
    """A bank by name or id; :class:`UnknownBank` (naming similar banks) if there is none."""
    if isinstance(bank, Bank):
        return bank
    if isinstance(bank, int) and not isinstance(bank, bool):
        found = repo_banks.by_id(session, bank)
        if found is None:
            raise UnknownBank(bank)
        return found
    found = repo_banks.by_name(session, str(bank))
    if found is None:
        raise UnknownBank(str(bank), repo_banks.names(session))
    return found


def list_banks(session: Session) -> list[Bank]:
    return repo_banks.all_banks(session)


def update_bank(
    session: Session,
    bank: BankRef,
    *,
    thresholds: dict[str, int] | None = None,
    enabled: bool | None = None,
    description: str | None = None,
) -> Bank:
    """Change a bank's settings; a change that affects matching goes on the change feed."""
    found = get_bank(session, bank)
    affects_matching = False
    if thresholds is not None:
        cleaned = _validate_thresholds(thresholds)
        if cleaned != (found.thresholds or {}):
            found.thresholds = cleaned
            affects_matching = True
    if enabled is not None and bool(enabled) != found.enabled:
        found.enabled = bool(enabled)
        affects_matching = True
    if description is not None:
        found.description = description
    found.updated_at = utcnow()
    session.flush()
    if affects_matching:
        repo_changes.append_bank_change(session, "update", found.id)
    return found


def delete_bank(session: Session, bank: BankRef) -> int:
    """Delete a bank and all its entries; returns how many entries went with it."""
    found = get_bank(session, bank)
    count = sum(repo_entries.count_by_signal_type(session, found.id).values())
    bank_id = found.id
    repo_banks.remove(session, bank_id)
    repo_changes.append_bank_change(session, "remove", bank_id)
    return count


# -- entry fields --------------------------------------------------------------------------------


def normalize_labels(labels: Iterable[str] | str) -> str:
    """Labels as stored: unique, sorted, space-separated (``"A1 B2"``)."""
    items = labels.replace(",", " ").split() if isinstance(labels, str) else list(labels)
    for label in items:
        if not isinstance(label, str) or not LABEL.fullmatch(label):
            raise InvalidLabel(f"invalid label {label!r}: 1-64 characters, no spaces or commas")
    text = " ".join(sorted(set(items)))
    if len(text) > MAX_LABELS_TEXT:
        raise InvalidLabel(f"labels too long: {len(text)} characters, at most {MAX_LABELS_TEXT}")
    return text


def _text(value: str, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidEntry(f"{what} must be text, got {type(value).__name__}")
    if len(value) > MAX_TEXT:
        raise InvalidEntry(f"{what} too long: {len(value)} characters, at most {MAX_TEXT}")
    return value


def _value(st: SignalType, value: bytes | str) -> bytes:
    if isinstance(value, str):
        return st.parse(value)
    return st.validate(value)


def _where(error: JagaError, location: str) -> JagaError:
    """The same error with the record's location in front of its message."""
    if not location:
        return error
    located = type(error).__new__(type(error))
    JagaError.__init__(located, f"{location}: {error}")
    return located


# -- single entries ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AddedEntry:
    """The entry's id; ``created`` is False when the hash was in the bank already.

    ``variants`` counts the variant rows :func:`add_entry` added with it (see ``variants=``).
    """

    id: int
    created: bool
    variants: int = 0


def add_entry(
    session: Session,
    bank: BankRef,
    signal_type: str,
    value: bytes | str,
    *,
    labels: Iterable[str] | str = (),
    source: str = "",
    external_id: str = "",
    added_at: datetime | None = None,
    disabled_until: datetime | None = None,
    variants: Iterable[tuple[str, bytes | str]] = (),
) -> AddedEntry:
    """Add one hash (bytes, or text in the signal type's format); a duplicate is not re-added.

    ``variants`` are ``(name, value)`` hashes of the same media to store as variant rows of the
    entry (see :func:`add_variants`); they are added to an entry that was there already too,
    so adding media again with variants gives an older entry its variants.

    A hash that is stored already as another entry's variant row becomes an entry of its own
    (it leaves that entry): whoever adds it as an entry means it as one.
    """
    found = get_bank(session, bank)
    st = get_signal_type(signal_type)
    data = _value(st, value)
    wanted = list(variants)
    row = EntryRow(
        bank_id=found.id,
        signal_type=st.name,
        value=data,
        value_key=value_key(data),
        labels=normalize_labels(labels),
        source=_text(source, "source"),
        external_id=_text(external_id, "external id"),
        added_at=as_utc(added_at) if added_at else utcnow(),
        disabled_until=as_utc(disabled_until) if disabled_until else None,
    )
    ids = insert_entry_rows(session, [row])
    if ids:
        repo_changes.append_entry_changes(session, "add", [(ids[0], found.id, st.name)])
        entry_id, created = ids[0], True
    else:
        existing = repo_entries.find_entry_id(session, found.id, st.name, row.value_key)
        assert existing is not None
        entry_id, created = existing, _promote(session, existing, row)
    added = len(add_variants(session, entry_id, wanted)) if wanted else 0
    return AddedEntry(entry_id, created, added)


def _promote(session: Session, entry_id: int, row: EntryRow) -> bool:
    """Turn a variant row into a plain entry with ``row``'s fields; False if it is plain."""
    entry = session.get(BankEntry, entry_id)
    assert entry is not None
    if entry.parent_id is None:
        return False
    entry.parent_id = None
    entry.variant = ""
    entry.labels, entry.source, entry.external_id = row.labels, row.source, row.external_id
    entry.added_at, entry.disabled_until = row.added_at, row.disabled_until
    session.flush()
    repo_changes.append_entry_changes(
        session, "update", [(entry.id, entry.bank_id, entry.signal_type)]
    )
    return True


def _variant_name(name: str) -> str:
    if not isinstance(name, str) or not VARIANT_NAME.fullmatch(name):
        raise InvalidEntry(
            f"invalid variant name {name!r}: a lowercase family and an optional ':number', "
            "e.g. 'trim' or 'crop:8'"
        )
    return name


def add_variants(
    session: Session, entry: BankEntry | int, variants: Iterable[tuple[str, bytes | str]]
) -> list[int]:
    """Store extra hashes of an entry's media as its variant rows; returns the new rows' ids.

    Each ``(name, value)`` is a hash of the entry's signal type (bytes or text), named as in
    :mod:`jaga.signals.variants` (``"crop:8"``, ``"trim"``, ``"square"``). Variant rows copy the
    entry's labels, provenance and disabled state, and go on the change feed. A value equal to
    any hash in the bank already (the entry's own, another entry's, another variant's) is
    skipped: it would match nothing new. Variants of a variant row are refused.
    """
    parent = entry if isinstance(entry, BankEntry) else get_entry(session, entry)
    if parent.parent_id is not None:
        raise InvalidEntry(
            f"entry {parent.id} is a variant of entry {parent.parent_id}; "
            "add variants to the entry itself"
        )
    st = get_signal_type(parent.signal_type)
    rows: list[dict[str, object]] = []
    seen: set[bytes] = {parent.value_key}
    for name, value in variants:
        data = _value(st, value)
        key = value_key(data)
        if key in seen:
            continue
        seen.add(key)
        rows.append(
            {
                "bank_id": parent.bank_id,
                "signal_type": st.name,
                "value": data,
                "value_key": key,
                "labels": parent.labels,
                "source": parent.source,
                "external_id": parent.external_id,
                "added_at": parent.added_at,
                "disabled_until": parent.disabled_until,
                "variant": _variant_name(name),
                "parent_id": parent.id,
            }
        )
    ids = repo_entries.insert_entries(session, rows)
    if ids:
        repo_changes.append_entry_changes(
            session, "add", [(entry_id, parent.bank_id, st.name) for entry_id in ids]
        )
    return ids


def entry_variants(session: Session, entry_id: int) -> list[BankEntry]:
    """The variant rows of an entry (none for an entry added from a hash)."""
    return repo_entries.variants_of(session, entry_id)


def get_entry(session: Session, entry_id: int, *, bank: BankRef | None = None) -> BankEntry:
    entry = session.get(BankEntry, entry_id)
    if entry is not None and bank is not None and entry.bank_id != get_bank(session, bank).id:
        entry = None
    if entry is None:
        where = f" in bank {bank if isinstance(bank, str | int) else bank.name!r}" if bank else ""
        raise UnknownEntry(f"no bank entry with id {entry_id}{where}")
    return entry


def find_entry(
    session: Session, bank: BankRef, signal_type: str, value: bytes | str
) -> BankEntry | None:
    found = get_bank(session, bank)
    st = get_signal_type(signal_type)
    entry_id = repo_entries.find_entry_id(session, found.id, st.name, value_key(_value(st, value)))
    return None if entry_id is None else session.get(BankEntry, entry_id)


def disable_entry(
    session: Session,
    entry_id: int,
    until: datetime | None = None,
    *,
    bank: BankRef | None = None,
) -> BankEntry:
    """Stop an entry matching until ``until`` (aware; naive means UTC), or for good if None.

    An entry's variant rows are disabled with it; a variant row named by its own id is disabled
    alone (one variant that matches what it should not, the entry still matching).
    """
    entry = get_entry(session, entry_id, bank=bank)
    if until is None:
        target = FOREVER
    else:
        target = as_utc(until)
        if target <= utcnow():
            raise InvalidInput(f"disable until {target.isoformat()} is not in the future")
    _set_disabled(session, entry, target)
    return entry


def enable_entry(session: Session, entry_id: int, *, bank: BankRef | None = None) -> BankEntry:
    """Let an entry match again, with its variant rows (or one variant row, by its id)."""
    entry = get_entry(session, entry_id, bank=bank)
    _set_disabled(session, entry, None)
    return entry


def _set_disabled(session: Session, entry: BankEntry, target: datetime | None) -> None:
    """Set ``disabled_until`` on an entry and its variant rows; feed rows for those changed."""
    changed: list[tuple[int, int, str]] = []
    if entry.disabled_until != target:
        entry.disabled_until = target
        session.flush()
        changed.append((entry.id, entry.bank_id, entry.signal_type))
    if entry.parent_id is None:
        rows = repo_entries.set_variants_disabled(session, entry.id, target)
        changed.extend((row_id, entry.bank_id, st) for row_id, st in rows)
    if changed:
        repo_changes.append_entry_changes(session, "update", changed)


def delete_entry(session: Session, entry_id: int, *, bank: BankRef | None = None) -> None:
    """Delete an entry and its variant rows (or one variant row, by its id)."""
    entry = get_entry(session, entry_id, bank=bank)
    keys = [
        (row_id, entry.bank_id, st)
        for row_id, st in repo_entries.delete_variants_of(session, [entry.id])
    ]
    keys.append((entry.id, entry.bank_id, entry.signal_type))
    session.delete(entry)
    session.flush()
    repo_changes.append_entry_changes(session, "remove", keys)


@dataclass(frozen=True, slots=True)
class EntryPage:
    """One page of entries; pass ``next_after`` as ``after`` for the next (None: last page)."""

    entries: list[BankEntry]
    next_after: int | None


def page_entries(
    session: Session,
    bank: BankRef,
    *,
    signal_type: str | None = None,
    after: int | None = None,
    limit: int = 100,
    newest_first: bool = False,
    include_variants: bool = False,
) -> EntryPage:
    """Keyset pagination by entry id: stable under inserts, O(limit) however deep the page.

    Variant rows are parts of their entry, not entries: listed only with ``include_variants``
    (see :func:`entry_variants` for one entry's).
    """
    found = get_bank(session, bank)
    if not 1 <= limit <= 10_000:
        raise InvalidInput(f"page size must be between 1 and 10000, got {limit}")
    name = get_signal_type(signal_type).name if signal_type is not None else None
    entries = repo_entries.page(
        session,
        found.id,
        signal_type=name,
        after=after,
        limit=limit,
        newest_first=newest_first,
        include_variants=include_variants,
    )
    next_after = entries[-1].id if len(entries) == limit else None
    return EntryPage(entries, next_after)


def entry_counts(session: Session, bank: BankRef, *, variants: bool = False) -> dict[str, int]:
    """Number of entries of a bank per signal type; with ``variants``, of variant rows."""
    return repo_entries.count_by_signal_type(
        session, get_bank(session, bank).id, variant_rows=variants
    )


# -- many entries --------------------------------------------------------------------------------


@dataclass
class ApplyReport:
    """What applying a stream of records did to a bank."""

    added: int = 0
    duplicates: int = 0
    removed: int = 0
    records: int = 0
    #: Reasons records were not applied (e.g. ``"pdna fingerprint": 12``), from the reader.
    skipped: dict[str, int] = field(default_factory=dict)


class _Applier:
    """Buffers validated rows and removals, writes them in chunks, feeds changes at the end."""

    def __init__(self, session: Session, bank: Bank, source: str, chunk: int) -> None:
        self.session = session
        self.bank = bank
        self.source = _text(source, "source")
        self.chunk = chunk
        self.now = utcnow()
        self.report = ApplyReport()
        self.rows: list[EntryRow] = []
        self.removals: list[EntryRecord] = []
        self.types: dict[str, tuple[SignalType, bool]] = {}
        self.checked_source = self.source
        self.bank_id = bank.id
        self.labels: dict[tuple[str, ...], str] = {}
        # (op, signal type, ids) in the order the operations happened.
        self.changes: list[tuple[str, str, array[int]]] = []

    def add(self, record: EntryRecord) -> None:
        try:
            row = self._row(record)
        except JagaError as error:
            raise _where(error, record.location) from None
        if self.removals:
            self._flush_removals()
        self.rows.append(row)
        if len(self.rows) >= self.chunk:
            self._flush_rows()

    def remove(self, record: EntryRecord) -> None:
        if self.rows:
            self._flush_rows()
        self.removals.append(record)
        if len(self.removals) >= self.chunk:
            self._flush_removals()

    def finish(self) -> ApplyReport:
        self._flush_rows()
        self._flush_removals()
        if sum(len(ids) for _, _, ids in self.changes) > BANK_RELOAD_AFTER:
            # Readers reload the whole bank ("add" on a bank; "update" means settings only)
            # rather than apply so many single changes.
            repo_changes.append_bank_change(self.session, "add", self.bank.id)
        else:
            for op, signal_type, ids in self.changes:
                repo_changes.append_entry_changes(
                    self.session, op, _entry_keys(ids, self.bank.id, signal_type)
                )
        if self.report.added or self.report.removed:
            repo_banks.touch(self.session, self.bank.id)
        return self.report

    def _signal_type(self, name: str) -> tuple[SignalType, bool]:
        """The signal type, and whether its values have one fixed size."""
        found = self.types.get(name)
        if found is None:
            st = get_signal_type(name)
            found = self.types[name] = (st, not is_variable_size(st.name))
        return found

    def _row(self, record: EntryRecord) -> EntryRow:
        st, fixed = self._signal_type(record.signal_type)
        value = record.value
        # Readers hand over validated bytes; re-check cheaply, fully only when it is not trivial.
        if not (fixed and type(value) is bytes and len(value) == st.size):
            value = st.validate(value)
        labels = self.labels.get(record.labels)
        if labels is None:
            labels = normalize_labels(record.labels)
            if len(self.labels) < 10_000:
                self.labels[record.labels] = labels
        source = record.source or self.source
        if source != self.checked_source:
            _text(source, "source")
            self.checked_source = source
        if len(record.external_id) > MAX_TEXT:
            _text(record.external_id, "external id")
        return EntryRow(
            self.bank_id,
            st.name,
            value,
            value if len(value) <= MAX_INLINE_KEY else value_key(value),
            labels,
            source,
            record.external_id,
            as_utc(record.added_at) if record.added_at else self.now,
            as_utc(record.disabled_until) if record.disabled_until else None,
        )

    def _note(self, op: str, signal_type: str, ids: Iterable[int]) -> None:
        if self.changes and self.changes[-1][:2] == (op, signal_type):
            self.changes[-1][2].extend(ids)
        else:
            self.changes.append((op, signal_type, array("q", ids)))

    def _flush_rows(self) -> None:
        if not self.rows:
            return
        rows, self.rows = self.rows, []
        by_type: dict[str, list[EntryRow]] = {}
        for row in rows:
            by_type.setdefault(row.signal_type, []).append(row)
        for name, group in by_type.items():
            ids = insert_entry_rows(self.session, group)
            self.report.added += len(ids)
            self.report.duplicates += len(group) - len(ids)
            self._note("add", name, ids)

    def _flush_removals(self) -> None:
        if not self.removals:
            return
        removals, self.removals = self.removals, []
        by_value: dict[str, list[bytes]] = {}
        by_external: list[str] = []
        for record in removals:
            if record.value:
                try:
                    st = self._signal_type(record.signal_type)[0]
                    value = st.validate(record.value)
                except JagaError as error:
                    raise _where(error, record.location) from None
                by_value.setdefault(st.name, []).append(value_key(value))
            elif record.external_id:
                by_external.append(record.external_id)
            else:
                raise _where(
                    InvalidEntry("a deletion names neither a hash nor an external id"),
                    record.location,
                )
        for name, keys in by_value.items():
            ids = repo_entries.delete_by_keys(self.session, self.bank.id, name, keys)
            self.report.removed += len(ids)
            self._note("remove", name, ids)
        if by_external:
            pairs = repo_entries.delete_by_external_ids(self.session, self.bank.id, by_external)
            self.report.removed += len(pairs)
            for entry_id, name in pairs:
                self._note("remove", name, [entry_id])


def _entry_keys(
    ids: Iterable[int], bank_id: int, signal_type: str
) -> Iterator[tuple[int, int, str]]:
    for entry_id in ids:
        yield entry_id, bank_id, signal_type


def apply_records(
    session: Session,
    bank: BankRef,
    records: Iterable[EntryRecord],
    *,
    source: str = "",
    chunk: int = DEFAULT_CHUNK,
) -> ApplyReport:
    """Add (and, for ``deleted`` records, remove) entries in bulk, in the records' order.

    Duplicates -- of stored entries or within the stream -- are skipped and counted. Runs in the
    caller's transaction; on any error nothing is left half-written once the caller rolls back
    (:func:`jaga.banks.importer.import_file` uses a savepoint so that holds even if it does not).
    ``source`` fills in records that name none.
    """
    found = get_bank(session, bank)
    applier = _Applier(session, found, source, chunk)
    for record in records:
        applier.report.records += 1
        if record.deleted:
            applier.remove(record)
        else:
            applier.add(record)
    return applier.finish()


def add_entries(
    session: Session,
    bank: BankRef,
    records: Iterable[EntryRecord],
    *,
    source: str = "",
    chunk: int = DEFAULT_CHUNK,
) -> ApplyReport:
    """Add many entries; same as :func:`apply_records` (deletion records remove entries)."""
    return apply_records(session, bank, records, source=source, chunk=chunk)

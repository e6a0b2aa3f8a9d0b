"""HMA's banks and "bank content" on top of Jaga's banks and bank entries.

HMA keeps *content* (one uploaded photo or video) with several *signals* (its PDQ, its MD5...);
Jaga keeps one bank entry per hash. The mapping:

* An HMA content is one Jaga entry per signal. The first entry's id is the content's id
  (``bank_content_id``), and every entry of the content carries the external id ``hma:<id>``
  (source ``hma``), so the content's entries are found through the (bank, external id) index.
  Entries that did not come through the HMA API (imports, the native API) are each a content of
  their own, with their entry id as content id.
* Adding a hash that the bank holds already does not duplicate it (Jaga keeps one entry per
  hash): when every signal is there already, the existing content's id is returned.
* ``disable_until_ts`` is the entries' ``disabled_until``: 0 = disabled until enabled again,
  1 = enabled, a Unix time = disabled until then.
* HMA's ``matching_enabled_ratio`` (a share of lookups a bank takes part in) is Jaga's ``enabled``
  flag: any ratio above 0 enables the bank fully (reported back as 1.0), 0 disables it.

Every function runs in the caller's transaction (``with db.session() as session``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from jaga.api.hma_http import HmaError
from jaga.api.hma_signals import format_value, hma_name_of
from jaga.banks import service
from jaga.banks.errors import DuplicateBank, InvalidBankName, UnknownBank
from jaga.store import repo_changes
from jaga.store.models import FOREVER, Bank, BankEntry
from jaga.store.types import utcnow

SOURCE: Final = "hma"
_KEY: Final = re.compile(r"hma:([0-9]{1,19})")
#: HMA refuses a ``disable_until_ts`` further away than this.
MAX_DISABLE_S: Final = 5 * 365 * 24 * 3600
ENABLED_TS: Final = 1
DISABLED_TS: Final = 0


def content_key(content_id: int) -> str:
    return f"hma:{content_id}"


def content_id_of(entry_id: int, external_id: str) -> int:
    """The HMA content id an entry belongs to."""
    found = _KEY.fullmatch(external_id or "")
    return int(found.group(1)) if found else entry_id


# -- banks ---------------------------------------------------------------------------------------


def bank_json(bank: Bank) -> dict[str, Any]:
    return {"name": bank.name, "matching_enabled_ratio": 1.0 if bank.enabled else 0.0}


def _check_ratio(ratio: float) -> bool:
    if not 0.0 <= ratio <= 1.0:
        raise HmaError(400, "enabled_ratio must be between 0.0 and 1.0")
    return ratio > 0.0


def _check_name(name: str) -> str:
    try:
        return service.validate_bank_name(name)
    except InvalidBankName as error:
        raise HmaError(400, str(error)) from None


def find_bank(session: Session, name: str) -> Bank | None:
    try:
        return service.get_bank(session, name)
    except UnknownBank:
        return None


def require_bank(session: Session, name: str, text: str | None = None) -> Bank:
    bank = find_bank(session, name)
    if bank is None:
        raise HmaError(404, text or f"bank '{name}' not found")
    return bank


def create_bank(session: Session, name: str, ratio: float) -> Bank:
    enabled = _check_ratio(ratio)
    _check_name(name)
    try:
        return service.create_bank(session, name, enabled=enabled)
    except DuplicateBank:
        raise HmaError(403, "Bank already exists") from None


def update_bank(
    session: Session,
    name: str,
    *,
    new_name: str | None,
    enabled: bool | None,
    ratio: float | None,
) -> Bank:
    """HMA's PUT: rename and/or switch matching on or off (a ratio wins over ``enabled``)."""
    bank = require_bank(session, name, "Bank not found")
    switch = enabled if ratio is None else _check_ratio(ratio)
    if new_name is not None and new_name != bank.name:
        _check_name(new_name)
        taken = [n for n in service.list_banks(session) if n.name.lower() == new_name.lower()]
        if any(other.id != bank.id for other in taken):
            raise HmaError(403, "Bank name already exists")
        _rename(session, bank, new_name)
    if switch is not None:
        service.update_bank(session, bank, enabled=switch)
    return bank


def _rename(session: Session, bank: Bank, new_name: str) -> None:
    # jaga.banks.service has no rename; the matcher reports banks by name, so the change goes on
    # the feed as a whole-bank update (readers reload the catalogue, not the entries).
    bank.name = new_name
    bank.updated_at = utcnow()
    session.flush()
    repo_changes.append_bank_change(session, "update", bank.id)


def delete_bank(session: Session, name: str) -> int | None:
    """Delete the bank if there is one (HMA answers the same either way); entries deleted."""
    bank = find_bank(session, name)
    if bank is None:
        return None
    return service.delete_bank(session, bank)


# -- content -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Content:
    """One HMA content: its id, bank and entries (the first is the entry whose id it carries)."""

    id: int
    bank: Bank
    entries: tuple[BankEntry, ...]

    @property
    def disable_until_ts(self) -> int:
        until = self.entries[0].disabled_until
        if until is None:
            return ENABLED_TS
        if until >= FOREVER:
            return DISABLED_TS
        return int(until.timestamp())

    def signals(self) -> dict[str, str]:
        return {
            hma_name_of(e.signal_type): format_value(e.signal_type, e.value) for e in self.entries
        }


def _entries_with_key(session: Session, bank_id: int, key: str) -> list[BankEntry]:
    # One indexed look-up on (bank_id, external_id). jaga.store.repo_entries has no reader by
    # external id yet; this is the only query the HMA layer builds itself.
    stmt = (
        select(BankEntry)
        .where(
            BankEntry.bank_id == bank_id,
            BankEntry.external_id == key,
            BankEntry.parent_id.is_(None),  # variant rows copy their entry's external id
        )
        .order_by(BankEntry.id)
    )
    return list(session.scalars(stmt))


def get_content(session: Session, bank: Bank, content_id: int) -> Content | None:
    """The content with this id in this bank, or None (also for an id that names a secondary
    entry of another content)."""
    entry = session.get(BankEntry, content_id)
    if entry is None or entry.bank_id != bank.id or entry.parent_id is not None:
        return None
    if content_id_of(entry.id, entry.external_id) != entry.id:
        return None
    if entry.external_id == content_key(entry.id):
        entries = _entries_with_key(session, bank.id, entry.external_id)
    else:
        entries = [entry]
    return Content(entry.id, bank, tuple(entries))


def add_content(
    session: Session,
    bank: Bank,
    signals: Sequence[tuple[str, bytes]],
    *,
    pdq_variants: Sequence[tuple[str, bytes]] = (),
) -> int:
    """Bank ``signals`` (Jaga type, value) as one content; returns its id.

    Hashes the bank holds already as entries are left where they are; if all of them are there,
    the id of the content holding the first is returned. ``pdq_variants`` (name, value) go with
    the PDQ entry as its variant rows (see :func:`jaga.banks.service.add_variants`).
    """
    if not signals:
        raise HmaError(400, "No signals given")
    primary: int | None = None
    first_existing: int | None = None
    for signal_type, value in signals:
        variants = pdq_variants if signal_type == "pdq" else ()
        existing = service.find_entry(session, bank, signal_type, value)
        if existing is not None and existing.parent_id is None:
            if first_existing is None:
                first_existing = content_id_of(existing.id, existing.external_id)
            if variants:
                service.add_variants(session, existing, variants)
            continue
        # New, or a variant row of another entry (add_entry makes it an entry of its own).
        key = content_key(primary) if primary is not None else ""
        added = service.add_entry(
            session, bank, signal_type, value, source=SOURCE, external_id=key, variants=variants
        )
        if not added.created:  # added by someone else since find_entry: leave it be
            continue
        if primary is None:
            primary = added.id
            _set_key(session, primary, content_key(primary))
    if primary is not None:
        return primary
    assert first_existing is not None
    return first_existing


def _set_key(session: Session, entry_id: int, key: str) -> None:
    """Give an entry (and its variant rows, which copy it) the content's external id."""
    entry = service.get_entry(session, entry_id)
    entry.external_id = key
    for row in service.entry_variants(session, entry_id):
        row.external_id = key
    session.flush()


def delete_content(session: Session, bank: Bank, content_id: int) -> int:
    """Delete the content's entries; 1 if it existed, 0 if not (HMA's ``deleted`` count)."""
    content = get_content(session, bank, content_id)
    if content is None:
        return 0
    for entry in content.entries:
        service.delete_entry(session, entry.id)
    return 1


def is_enabling(ts: int) -> bool:
    """Whether ``disable_until_ts`` turns matching (back) on."""
    return ts != DISABLED_TS and (ts == ENABLED_TS or ts <= time.time())


def set_disable_until(session: Session, content: Content, ts: int) -> None:
    """Apply HMA's ``disable_until_ts`` to every entry of the content."""
    enabling = is_enabling(ts)
    for entry in content.entries:
        if enabling:
            service.enable_entry(session, entry.id)
        elif ts == DISABLED_TS:
            service.disable_entry(session, entry.id)
        else:
            service.disable_entry(session, entry.id, datetime.fromtimestamp(ts, UTC))


def check_disable_until(value: object) -> int:
    """HMA's rules for ``disable_until_ts``: an integer (or its text), >= 0, < 5 years ahead."""
    if isinstance(value, bool) or not isinstance(value, int | str | float):
        raise HmaError(400, f"Invalid int: '{value}'")
    try:
        ts = int(value)
    except ValueError:
        raise HmaError(400, f"Invalid int: '{value}'") from None
    if ts < 0:
        raise HmaError(400, "disable_until_ts must be a non-negative integer")
    if ts > time.time() + MAX_DISABLE_S:
        raise HmaError(400, "disable_until_ts must be less than 5 years in the future")
    return ts


def content_json(content: Content) -> dict[str, Any]:
    """The body of HMA's PUT (its stored content record, as Flask serialises the dataclass)."""
    return {
        "id": content.id,
        "disable_until_ts": content.disable_until_ts,
        "collab_metadata": {},
        "original_media_uri": None,
        "bank": bank_json(content.bank),
        "user_metadata": None,
        "note": None,
    }

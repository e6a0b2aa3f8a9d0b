"""Hash banks: named lists of hashes of known material (or known false positives), their
entries with provenance and labels, the change feed the matcher follows, and import/export.

Start with :mod:`jaga.banks.service` (banks and entries), :mod:`jaga.banks.importer` (files) and
:mod:`jaga.banks.sync` (what the matcher reads). See docs/banks.md and docs/formats.md.
"""

from jaga.banks.errors import (
    DuplicateBank,
    InvalidBankName,
    InvalidBankSetting,
    InvalidEntry,
    InvalidLabel,
    UnknownBank,
    UnknownEntry,
)
from jaga.banks.formats import FormatError, UnknownFormat
from jaga.banks.importer import ImportReport, export_bank, import_file, iter_bank_records
from jaga.banks.records import EntryRecord
from jaga.banks.service import (
    AddedEntry,
    ApplyReport,
    EntryPage,
    add_entries,
    add_entry,
    apply_records,
    bank_threshold,
    create_bank,
    delete_bank,
    delete_entry,
    disable_entry,
    enable_entry,
    entry_counts,
    find_entry,
    get_bank,
    get_entry,
    list_banks,
    page_entries,
    update_bank,
)
from jaga.banks.sync import (
    ActiveEntry,
    Change,
    active_hashes,
    changes_since,
    iter_active_hashes,
    iter_active_hashes_by_bank,
    latest_change_seq,
    oldest_change_seq,
    release_expired_disables,
)

__all__ = [
    "ActiveEntry",
    "AddedEntry",
    "ApplyReport",
    "Change",
    "DuplicateBank",
    "EntryPage",
    "EntryRecord",
    "FormatError",
    "ImportReport",
    "InvalidBankName",
    "InvalidBankSetting",
    "InvalidEntry",
    "InvalidLabel",
    "UnknownBank",
    "UnknownEntry",
    "UnknownFormat",
    "active_hashes",
    "add_entries",
    "add_entry",
    "apply_records",
    "bank_threshold",
    "changes_since",
    "create_bank",
    "delete_bank",
    "delete_entry",
    "disable_entry",
    "enable_entry",
    "entry_counts",
    "export_bank",
    "find_entry",
    "get_bank",
    "get_entry",
    "import_file",
    "iter_active_hashes",
    "iter_active_hashes_by_bank",
    "iter_bank_records",
    "latest_change_seq",
    "list_banks",
    "oldest_change_seq",
    "page_entries",
    "release_expired_disables",
    "update_bank",
]

"""What every import/export format shares: the error type, skip counts, timestamps, streams."""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any, Final, cast

from jaga.errors import InvalidInput, JagaError
from jaga.signals.base import SignalType
from jaga.signals.registry import get_signal_type

_EPOCH: Final = re.compile(r"-?\d+(\.\d+)?")


class FormatError(InvalidInput):
    """A file that does not follow its format, with where it went wrong.

    ``line`` (1-based), ``column`` (a column name or 1-based position) and ``record`` (1-based)
    are set where known and also lead the one-line message: ``csv line 12, column 'hash': ...``.
    """

    def __init__(
        self,
        message: str,
        *,
        fmt: str = "",
        line: int | None = None,
        column: int | str | None = None,
        record: int | None = None,
    ) -> None:
        self.fmt = fmt
        self.line = line
        self.column = column
        self.record = record
        where = []
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column {column!r}" if isinstance(column, str) else f"column {column}")
        if record is not None:
            where.append(f"record {record}")
        prefix = " ".join(p for p in (fmt, ", ".join(where)) if p)
        super().__init__(f"{prefix}: {message}" if prefix else message)

    @property
    def location(self) -> str:
        parts = []
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.record is not None:
            parts.append(f"record {self.record}")
        return ", ".join(parts)


@dataclass
class ReadStats:
    """Counts of things a reader saw but could not turn into entries, by reason."""

    skipped: Counter[str] = field(default_factory=Counter)

    def skip(self, reason: str, count: int = 1) -> None:
        self.skipped[reason] += count


def error_from(
    error: JagaError,
    *,
    fmt: str,
    line: int | None = None,
    column: int | str | None = None,
    record: int | None = None,
) -> FormatError:
    """A FormatError carrying ``error``'s message and the place it happened."""
    return FormatError(str(error), fmt=fmt, line=line, column=column, record=record)


# -- timestamps ----------------------------------------------------------------------------------


def parse_timestamp(text: str | int | float) -> datetime:
    """ISO 8601 (``Z``, ``+00:00`` or ``+0000``; naive means UTC) or Unix seconds -> aware UTC."""
    if isinstance(text, bool):
        raise InvalidInput(f"not a timestamp: {text!r}")
    if isinstance(text, int | float):
        return _from_epoch(float(text))
    cleaned = text.strip()
    if _EPOCH.fullmatch(cleaned):
        return _from_epoch(float(cleaned))
    try:
        value = datetime.fromisoformat(cleaned)
    except ValueError:
        raise InvalidInput(f"not an ISO 8601 timestamp: {cleaned[:40]!r}") from None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _from_epoch(seconds: float) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise InvalidInput(f"timestamp out of range: {seconds}") from None


def format_timestamp(value: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``; microseconds only when there are any."""
    global _LAST_FORMATTED
    last = _LAST_FORMATTED
    if last is not None and last[0] == value:
        return last[1]
    utc = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    spec = "microseconds" if utc.microsecond else "seconds"
    text = utc.replace(tzinfo=None).isoformat(timespec=spec) + "Z"
    # Exports write one import time on many rows in a row: remember the last (one tuple, so
    # threads never see a value paired with another's text).
    _LAST_FORMATTED = (value, text)
    return text


_LAST_FORMATTED: tuple[datetime, str] | None = None


# -- fast hash parsing ---------------------------------------------------------------------------


def hex_parser(st: SignalType) -> Callable[[str], bytes]:
    """``st.parse`` with a fast path for plain hex of the right length (millions of rows).

    Only for types that keep the base hex codec; anything unusual (``0x`` prefix, bad digits,
    vPDQ text) goes through ``st.parse`` itself, so errors read the same.
    """
    if type(st).parse is not SignalType.parse:
        return st.parse
    size = st.size
    digits = 2 * size

    def parse(text: str) -> bytes:
        if len(text) == digits:
            try:
                value = bytes.fromhex(text)
            except ValueError:
                value = b""
            # fromhex skips whitespace, so a full-length result proves every character was hex.
            if len(value) == size:
                return value
        return st.parse(text)

    return parse


def hex_formatter(st: SignalType) -> Callable[[bytes], str]:
    """``st.format`` with a fast path for fixed-size values of the base hex codec."""
    if type(st).format is not SignalType.format or type(st).validate is not SignalType.validate:
        return st.format
    size = st.size

    def format_(value: bytes) -> str:
        if type(value) is bytes and len(value) == size:
            return value.hex()
        return st.format(value)

    return format_


# -- signal types across exchanges ---------------------------------------------------------------

#: python-threatexchange / HMA signal type names that differ from Jaga's.
EXCHANGE_NAMES: Final = {"video_md5": "md5", "video_sha256": "sha256", "photodna": ""}
#: Jaga name -> the name python-threatexchange and HMA use.
TO_EXCHANGE_NAMES: Final = {"md5": "video_md5", "sha256": "video_sha256"}


def signal_type_from_exchange(name: str) -> SignalType | None:
    """Jaga's signal type for a ThreatExchange/HMA name, or None if Jaga has no such type."""
    lowered = name.strip().lower()
    mapped = EXCHANGE_NAMES.get(lowered, lowered)
    if not mapped:
        return None
    try:
        return get_signal_type(mapped)
    except InvalidInput:
        return None


# -- streams -------------------------------------------------------------------------------------


def _is_text(stream: Any) -> bool:
    if isinstance(stream, io.TextIOBase):
        return True
    if isinstance(stream, io.RawIOBase | io.BufferedIOBase):
        return False
    return isinstance(stream.read(0), str)


@contextmanager
def text_input(stream: IO[str] | IO[bytes]) -> Iterator[IO[str]]:
    """Read text from either kind of stream (bytes are decoded as UTF-8, a BOM dropped).

    The caller's stream is left open.
    """
    if _is_text(stream):
        yield stream  # type: ignore[misc]
        return
    wrapper = io.TextIOWrapper(cast(Any, stream), encoding="utf-8-sig", newline="")
    try:
        yield wrapper
    finally:
        wrapper.detach()


@contextmanager
def text_output(stream: IO[str] | IO[bytes]) -> Iterator[IO[str]]:
    """Write text to either kind of stream (UTF-8 for bytes); the caller's stream stays open."""
    if _is_text(stream):
        yield stream  # type: ignore[misc]
        return
    wrapper = io.TextIOWrapper(cast(Any, stream), encoding="utf-8", newline="")
    try:
        yield wrapper
    finally:
        wrapper.flush()
        wrapper.detach()


class _EncodingReader(io.RawIOBase):
    """Bytes (UTF-8) out of a text stream, for parsers that want bytes."""

    def __init__(self, text: IO[str]) -> None:
        self._text = text
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while len(self._pending) < len(buffer):
            chunk = self._text.read(64 * 1024)
            if not chunk:
                break
            self._pending += chunk.encode("utf-8")
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


def binary_input(stream: IO[str] | IO[bytes]) -> IO[bytes]:
    """Read bytes from either kind of stream (text is encoded as UTF-8)."""
    if _is_text(stream):
        return io.BufferedReader(_EncodingReader(stream))  # type: ignore[arg-type]
    return stream  # type: ignore[return-value]


class _DecodingWriter(io.RawIOBase):
    """A bytes sink that writes UTF-8 text into a text stream."""

    def __init__(self, text: IO[str]) -> None:
        self._text = text
        self._pending = b""

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        raw = self._pending + bytes(data)
        try:
            decoded = raw.decode("utf-8")
            self._pending = b""
        except UnicodeDecodeError as error:
            decoded = raw[: error.start].decode("utf-8")
            self._pending = raw[error.start :]
        self._text.write(decoded)
        return len(data)


def binary_output(stream: IO[str] | IO[bytes]) -> IO[bytes]:
    """Write bytes to either kind of stream (decoded as UTF-8 into a text one)."""
    if _is_text(stream):
        return _DecodingWriter(stream)  # type: ignore[arg-type, return-value]
    return stream  # type: ignore[return-value]

"""Stream the items of big JSON files without loading them whole.

Exchange dumps come as one JSON array, as one object wrapping an array (``{"data": [...]}``,
``{"hashRecords": [...], "count": ...}``), or as JSON Lines; any of these can run to gigabytes.
This walks the top level by hand and decodes one item at a time with the C decoder
(``json.JSONDecoder.raw_decode``), reading more text only when an item is cut off.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any, Final

from jaga.banks.formats.base import FormatError

_READ: Final = 1 << 20
#: One item larger than this is refused rather than buffered without end.
MAX_ITEM_CHARS: Final = 64 << 20
_WHITESPACE: Final = " \t\r\n"


class JsonItems:
    """Iterate ``(item, line)`` over the items of a JSON text.

    Top-level values are taken one after another (so JSON Lines work). A top-level array yields
    its elements. A top-level object that has one of ``containers`` as a key whose value is an
    array yields that array's elements (its other keys are page metadata and are dropped); any
    other object is itself an item. ``line`` is where the item starts (1-based).
    """

    def __init__(self, stream: IO[str], containers: tuple[str, ...], fmt: str) -> None:
        self._stream = stream
        self._containers = containers
        self._fmt = fmt
        self._decoder = json.JSONDecoder()
        self._buf = ""
        self._pos = 0
        self._eof = False
        self._line_base = 1  # line number at self._counted
        self._counted = 0

    # -- buffer ------------------------------------------------------------------------------

    def _fill(self) -> bool:
        if self._eof:
            return False
        chunk = self._stream.read(_READ)
        if not chunk:
            self._eof = True
            return False
        if self._pos > _READ:
            self._line_at(self._pos)
            self._buf = self._buf[self._pos :]
            self._counted -= self._pos
            self._pos = 0
        self._buf += chunk
        return True

    def _line_at(self, pos: int) -> int:
        if pos > self._counted:
            self._line_base += self._buf.count("\n", self._counted, pos)
            self._counted = pos
        return self._line_base

    def _error(self, message: str, pos: int | None = None) -> FormatError:
        return FormatError(
            message, fmt=self._fmt, line=self._line_at(self._pos if pos is None else pos)
        )

    def _peek(self) -> str:
        """Skip whitespace; the next character, or '' at the end of the text."""
        while True:
            while self._pos < len(self._buf) and self._buf[self._pos] in _WHITESPACE:
                self._pos += 1
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._fill():
                return ""

    def _expect(self, char: str) -> None:
        if self._peek() != char:
            found = self._peek() or "end of file"
            raise self._error(f"expected {char!r}, found {found!r}")
        self._pos += 1

    def _value(self) -> Any:
        self._peek()
        while True:
            try:
                value, end = self._decoder.raw_decode(self._buf, self._pos)
            except json.JSONDecodeError as error:
                if self._fill():
                    # self._pos stays at the item's start while it is being completed.
                    self._check_size(self._pos)
                    continue
                raise self._error(f"malformed JSON: {error.msg}", error.pos) from None
            # A number (or literal) that ends exactly at the buffer's end may continue.
            if end == len(self._buf) and self._fill():
                continue
            self._pos = end
            return value

    def _check_size(self, start: int) -> None:
        if len(self._buf) - start > MAX_ITEM_CHARS:
            raise self._error(f"a JSON item is larger than {MAX_ITEM_CHARS} characters", start)

    # -- structure ---------------------------------------------------------------------------

    def __iter__(self) -> Iterator[tuple[Any, int]]:
        while True:
            char = self._peek()
            if not char:
                return
            if char == "[":
                yield from self._array()
            elif char == "{":
                yield from self._object()
            else:
                raise self._error(f"expected a JSON object or array, found {char!r}")

    def _array(self) -> Iterator[tuple[Any, int]]:
        self._expect("[")
        if self._peek() == "]":
            self._pos += 1
            return
        while True:
            line = self._line_at(self._pos)
            yield self._value(), line
            char = self._peek()
            if char == ",":
                self._pos += 1
                continue
            if char == "]":
                self._pos += 1
                return
            raise self._error(f"expected ',' or ']' in array, found {char or 'end of file'!r}")

    def _object(self) -> Iterator[tuple[Any, int]]:
        start_line = self._line_at(self._pos)
        self._expect("{")
        members: dict[str, Any] = {}
        streamed = False
        if self._peek() == "}":
            self._pos += 1
            yield members, start_line
            return
        while True:
            if self._peek() != '"':
                raise self._error("expected a quoted key in object")
            key = self._value()
            self._expect(":")
            if key in self._containers and self._peek() == "[":
                streamed = True
                yield from self._array()
            else:
                members[key] = self._value()
            char = self._peek()
            if char == ",":
                self._pos += 1
                continue
            if char == "}":
                self._pos += 1
                break
            raise self._error(f"expected ',' or '}}' in object, found {char or 'end of file'!r}")
        if not streamed:
            yield members, start_line

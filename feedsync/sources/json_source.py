"""JSON and JSON Lines product masters.

JSON Lines (`.jsonl`, `.ndjson`): one object per line, streamed; a SourceRow's number is the
line number. JSON (`.json`): an array of objects, or an object whose array of records is
named by `source.records` (a dotted path such as `data.products`); the document is read
into memory (JSON has no streaming boundaries without a parser state machine), objects are
then produced one at a time, numbered by the line where each begins.

Nested values are flattened into dotted keys, so `columns:` can address them:
`price: offers.price`, `image_link: images.0.src`. A list of plain values is also kept whole
under its own key, joined with `|` (the separator image lists already use).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from feedsync.errors import SourceError
from feedsync.sources.base import SourceRow
from feedsync.sources.cells import CellFormatter
from feedsync.sources.csv import check_readable_file

COLUMN_SCAN_RECORDS = 1000
_WHITESPACE = " \t\r\n"
# Longer integers are kept as their text (then reported as too large where a number is
# due) instead of being converted: Python refuses int() on more than 4,300 digits, and
# converting a long run of digits costs quadratic time.
_MAX_INT_DIGITS = 40


def _bounded_int(text: str) -> int | str:
    return int(text) if len(text) <= _MAX_INT_DIGITS else text


_DECODER = json.JSONDecoder(parse_int=_bounded_int)


class JsonSource:
    """A JSON array or JSON Lines file of product objects."""

    def __init__(self, path: Path, *, lines: bool, records: str | None = None,
                 locale: str | None = None, wanted_columns: Iterable[str] = ()) -> None:
        self.path = path
        self.name = path.name
        self.lines = lines
        self.records = records
        self.format = CellFormatter(locale)
        self.wanted_columns = list(wanted_columns)
        check_readable_file(path)
        self._columns: list[str] | None = None

    @property
    def columns(self) -> list[str]:
        """Keys of the first records (nested ones dotted), plus every column the config maps."""
        if self._columns is None:
            seen: dict[str, None] = {}
            for count, source_row in enumerate(self.rows()):
                seen.update(dict.fromkeys(source_row.data))
                if count >= COLUMN_SCAN_RECORDS:
                    break
            seen.update(dict.fromkeys(self.wanted_columns))
            self._columns = list(seen)
        return self._columns

    def rows(self) -> Iterator[SourceRow]:
        objects = self._lines() if self.lines else self._document()
        for line, obj in objects:
            if not isinstance(obj, dict):
                raise SourceError(f"{self.name}: line {line} holds a {_kind(obj)}, not a "
                                  "product object")
            data: dict[str, str | None] = {}
            self._flatten(obj, "", data)
            yield SourceRow(line, data)

    def _lines(self) -> Iterator[tuple[int, Any]]:
        try:
            with self.path.open("r", encoding="utf-8-sig") as fh:
                for number, text in enumerate(fh, start=1):
                    if not text.strip():
                        continue
                    try:
                        yield number, _DECODER.decode(text)
                    except json.JSONDecodeError as exc:
                        raise SourceError(f"{self.name}: line {number} is not valid JSON "
                                          f"({exc.msg} at column {exc.colno})") from exc
                    except RecursionError as exc:
                        raise SourceError(f"{self.name}: line {number} is nested too deeply "
                                          "to be a product") from exc
        except UnicodeDecodeError as exc:
            raise SourceError(f"{self.name} is not UTF-8 text (JSON must be)") from exc
        except OSError as exc:
            raise SourceError(f"cannot read {self.path}: {exc.strerror or exc}") from exc

    def _document(self) -> Iterator[tuple[int, Any]]:
        try:
            text = self.path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise SourceError(f"{self.name} is not UTF-8 text (JSON must be)") from exc
        except OSError as exc:
            raise SourceError(f"cannot read {self.path}: {exc.strerror or exc}") from exc
        if self.records:
            document = self._decode_all(text)
            records = _dig(document, self.records)
            if not isinstance(records, list):
                raise SourceError(f"{self.name}: {self.records} is not an array of products")
            yield from ((i, obj) for i, obj in enumerate(records, start=1))
            return
        yield from self._array_items(text)

    def _decode_all(self, text: str) -> Any:
        try:
            return _DECODER.decode(text)
        except json.JSONDecodeError as exc:
            raise SourceError(f"{self.name}: line {exc.lineno} is not valid JSON "
                              f"({exc.msg} at column {exc.colno})") from exc
        except RecursionError as exc:
            raise SourceError(f"{self.name} is nested too deeply to be a product list") from exc

    def _array_items(self, text: str) -> Iterator[tuple[int, Any]]:
        """Each element of a top-level array, with the line it starts on."""
        decoder = _DECODER
        pos = _skip(text, 0)
        if pos >= len(text) or text[pos] != "[":
            document = self._decode_all(text)
            if isinstance(document, dict):
                raise SourceError(f"{self.name} holds one object, not an array of products; "
                                  "set source.records to the path of its product array")
            raise SourceError(f"{self.name} holds a {_kind(document)}, not an array of "
                              "products")
        line, counted = 1, 0
        pos = _skip(text, pos + 1)
        if pos < len(text) and text[pos] == "]":
            self._check_nothing_after(text, pos + 1)
            return
        while True:
            line += text.count("\n", counted, pos)
            counted = pos
            try:
                obj, pos = decoder.raw_decode(text, pos)
            except json.JSONDecodeError as exc:
                raise SourceError(f"{self.name}: line {exc.lineno} is not valid JSON "
                                  f"({exc.msg} at column {exc.colno})") from exc
            except RecursionError as exc:
                raise SourceError(f"{self.name}: the product on line {line} is nested too "
                                  "deeply") from exc
            yield line, obj
            pos = _skip(text, pos)
            if pos < len(text) and text[pos] == ",":
                pos = _skip(text, pos + 1)
                continue
            if pos < len(text) and text[pos] == "]":
                self._check_nothing_after(text, pos + 1)
                return
            self._decode_all(text)  # raises with the decoder's own line and column
            raise SourceError(f"{self.name}: the array of products is not closed")

    def _check_nothing_after(self, text: str, pos: int) -> None:
        """Data after the closing bracket would otherwise be dropped without a word."""
        rest = _skip(text, pos)
        if rest < len(text):
            line = text.count("\n", 0, rest) + 1
            raise SourceError(f"{self.name}: line {line} has data after the end of the array "
                              "of products; a JSON master holds one array (use .jsonl for "
                              "one product per line)")

    def _flatten(self, value: Any, prefix: str, out: dict[str, str | None]) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                self._flatten(inner, f"{prefix}.{key}" if prefix else str(key), out)
        elif isinstance(value, list):
            if all(not isinstance(v, (dict, list)) for v in value):
                texts = [t for v in value if (t := self.format.text(v))]
                out[prefix] = "|".join(texts) if texts else None
            for index, inner in enumerate(value):
                self._flatten(inner, f"{prefix}.{index}", out)
        else:
            out[prefix] = self.format.text(value)


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WHITESPACE:
        pos += 1
    return pos


def _dig(document: Any, dotted: str) -> Any:
    value = document
    for part in dotted.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdecimal() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _kind(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        type(value), "number" if isinstance(value, (int, float)) else "null")

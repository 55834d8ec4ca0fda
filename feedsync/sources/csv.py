"""CSV/TSV product masters, streamed: encoding and delimiter detected, ragged rows reported."""

from __future__ import annotations

import codecs
import csv
import io
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from feedsync.checks import codes
from feedsync.checks.issue import error
from feedsync.errors import SourceError
from feedsync.sources.base import SourceRow

SAMPLE_BYTES = 1 << 20
DELIMITERS = (",", ";", "\t", "|")
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


def check_readable_file(path: Path) -> None:
    if not path.exists():
        raise SourceError(f"product master {path} does not exist")
    if path.is_dir():
        raise SourceError(f"product master {path} is a directory, not a file")
    if not path.is_file():
        raise SourceError(f"product master {path} is not a regular file")


def detect_encoding(sample: bytes, truncated: bool = False) -> str:
    """BOM, else UTF-8 if the sample decodes as UTF-8, else cp1252 (else latin-1).

    `truncated` says the sample is only the start of the file, so it may end inside a
    multi-byte character.
    """
    for bom, name in _BOMS:
        if sample.startswith(bom):
            return name
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        # A sample cut in the middle of a multi-byte character is still UTF-8.
        if truncated and exc.start >= len(sample) - 3 and exc.reason == "unexpected end of data":
            return "utf-8"
    try:
        sample.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def sniff_delimiter(text: str) -> str:
    """The candidate that splits the header line into the most fields (outside quotes)."""
    header = _first_logical_line(text)
    counts = {d: _count_outside_quotes(header, d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])  # ties keep the order above: `,` first
    return best if counts[best] else ","


def _first_logical_line(text: str) -> str:
    in_quotes = False
    for i, ch in enumerate(text):
        if ch == '"':
            in_quotes = not in_quotes
        elif ch in "\r\n" and not in_quotes:
            if i == 0:
                continue
            return text[:i]
    return text


def _count_outside_quotes(line: str, delimiter: str) -> int:
    count, in_quotes = 0, False
    for ch in line:
        if ch == '"':
            in_quotes = not in_quotes
        elif ch == delimiter and not in_quotes:
            count += 1
    return count


class CsvSource:
    """A delimited text master. Row numbers count records as a spreadsheet shows them."""

    def __init__(self, path: Path, *, encoding: str | None = None,
                 delimiter: str | None = None) -> None:
        self.path = path
        self.name = path.name
        check_readable_file(path)
        try:
            with path.open("rb") as fh:
                sample = fh.read(SAMPLE_BYTES)
        except OSError as exc:
            raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from exc
        if not sample.strip():
            raise SourceError(f"{self.name} is empty: there is no header row")
        self.encoding = encoding or detect_encoding(sample, len(sample) == SAMPLE_BYTES)
        if b"\x00" in sample and not self.encoding.startswith("utf-16"):
            raise SourceError(f"{self.name} looks like a binary file, not CSV text")
        try:
            codecs.lookup(self.encoding)
        except LookupError as exc:
            raise SourceError(f"unknown encoding {self.encoding!r} for {self.name}") from exc
        text_sample = sample.decode(self.encoding, errors="replace")
        self.delimiter = delimiter or sniff_delimiter(text_sample)
        self._header: list[str] | None = None

    @property
    def columns(self) -> list[str]:
        if self._header is None:
            try:
                with self._open() as fh:
                    self._header = self._read_header(
                        csv.reader(fh, delimiter=self.delimiter))[0]
            except UnicodeDecodeError as exc:
                raise self._decode_error() from exc
        return self._header

    def _decode_error(self) -> SourceError:
        """The first byte that is not valid text in the file's encoding, by its offset in
        the file (the decoder's own offset counts from its current buffer) and its line."""
        decoder = codecs.getincrementaldecoder(self.encoding)()
        offset, line = 0, 1
        with self.path.open("rb") as fh:
            while chunk := fh.read(1 << 16):
                pending = len(decoder.getstate()[0])
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    bad = offset - pending + exc.start
                    buffered = exc.object[:exc.start]
                    line += buffered.count(b"\n") if isinstance(buffered, bytes) else 0
                    byte = exc.object[exc.start:exc.start + 1]
                    return SourceError(
                        f"{self.name} is not valid {self.encoding} text: byte {bad} (line "
                        f"{line}, value 0x{byte.hex()}); set source.encoding to the file's "
                        "encoding (for example cp1252), or remove it to detect it")
                line += chunk.count(b"\n")
                offset += len(chunk)
        return SourceError(f"{self.name} is not valid {self.encoding} text; set "
                           "source.encoding (for example cp1252)")

    def _open(self) -> io.TextIOWrapper:
        return self.path.open("r", encoding=self.encoding, newline="")

    def _read_header(self, reader: Iterator[list[str]]) -> tuple[list[str], int]:
        """The first non-empty record, stripped, and its row number."""
        for row, record in enumerate(reader, start=1):
            if any(cell.strip() for cell in record):
                header = [cell.strip() for cell in record]
                if header and header[0].startswith("\ufeff"):
                    header[0] = header[0][1:]
                check_unique_header(header, self.name, row)
                return header, row
        raise SourceError(f"{self.name} is empty: there is no header row")

    def rows(self) -> Iterator[SourceRow]:
        return self.rows_where(None, None)

    def rows_where(self, column: str | None,
                   keep: Callable[[str], bool] | None) -> Iterator[SourceRow]:
        """The rows whose `column` value `keep` accepts (all rows without one), tested
        before a row becomes a dict: a sync re-reading a few products of a big master."""
        row = 0
        try:
            with self._open() as fh:
                lines = _RecordLines(fh)
                reader = csv.reader(lines, delimiter=self.delimiter)
                header, row = self._read_header(reader)
                self._header = header
                width = len(header)
                swallowed = 0
                index = header.index(column) if column in header else None
                record_done = lines.record_done
                # Each usual row's dict starts as a copy of this one: sized for the header
                # at once, where dict(zip()) grows four times (~1.6K instructions a row).
                blank = dict.fromkeys(header)
                for record in reader:
                    row += 1
                    if keep is None and len(record) == width and any(record):
                        # The usual row: whole, not empty; nothing below would apply.
                        swallowed = 0
                        record_done()
                        data = blank.copy()
                        data.update(zip(header, record))
                        yield SourceRow(row, data, [])
                        continue
                    if keep is not None and index is not None and (
                            index >= len(record) or not keep(record[index].strip())):
                        lines.record_done()
                        continue
                    if not record or not any(record):
                        continue
                    issues = []
                    swallowed = _swallowed_lines(record, width, self.delimiter)
                    if swallowed:
                        issues.append(error(
                            codes.UNCLOSED_QUOTE,
                            f"row {row}: a quote opened in this row is never closed, so "
                            f"{swallowed} following line(s) were read into one cell; close "
                            "the quote (or double it: \"\")", row=row))
                    if len(record) > width:
                        extra = record[width:]
                        if any(cell.strip() for cell in extra):
                            issues.append(error(
                                codes.RAGGED_ROW,
                                f"row {row} has {len(record)} cells but the header has {width}; "
                                "a value probably contains an unquoted "
                                f"{_delimiter_name(self.delimiter)}",
                                row=row))
                        record = record[:width]
                    elif len(record) < width:
                        record = record + [""] * (width - len(record))
                    lines.record_done()
                    yield SourceRow(row, dict(zip(header, record)), issues)
                # An open quote already reported as swallowing lines is not reported twice.
                if not swallowed and lines.last_record_unterminated(self.delimiter):
                    raise SourceError(
                        f"{self.name} ends inside a quoted value on row {row}: the file looks "
                        "cut short (a quote is opened and never closed), so it is not read")
        except UnicodeDecodeError as exc:
            raise self._decode_error() from exc
        except csv.Error as exc:
            raise SourceError(f"{self.name}: row {row + 1}: {exc}") from exc
        except OSError as exc:
            raise SourceError(f"cannot read {self.path}: {exc.strerror or exc}") from exc


def check_unique_header(header: list[str], source_name: str, row: int = 1) -> None:
    """Two columns with one name: the second would silently win, so refuse the master."""
    seen: dict[str, int] = {}
    for position, name in enumerate(header, start=1):
        if not name:
            continue
        if name in seen:
            raise SourceError(
                f"{source_name}: row {row}: column {name!r} appears twice (columns "
                f"{seen[name]} and {position}); rename one so each header is unique")
        seen[name] = position


def _swallowed_lines(record: list[str], width: int, delimiter: str) -> int:
    """How many lines an unclosed quote merged into this record (0: none).

    A quoted cell may hold line breaks; one that holds whole lines of cells (a delimiter
    count near the header's), in a record that came out short, is a quote left open."""
    if len(record) >= width:
        return 0
    for cell in record:
        if "\n" not in cell:
            continue
        lines = [text for text in cell.split("\n")[1:] if text.strip()]
        if sum(1 for text in lines if text.count(delimiter) >= max(1, width // 2)) > 0:
            return len(lines)
    return 0


class _RecordLines:
    """The file's lines, remembering those of the record being read.

    The csv module, when not strict, reads a quoted field that the end of the file cuts
    off as if it were whole: a truncated upload would lose every row after the cut without
    a word. Keeping the last record's lines lets `last_record_unterminated` parse just those
    strictly once the reader is done (the reader pulls lines only as a record needs them).
    """

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines
        self._current: list[str] = []
        self._last: list[str] = []

    def __iter__(self) -> _RecordLines:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self._current.append(line)
        return line

    def record_done(self) -> None:
        self._last, self._current = self._current, []

    def last_record_unterminated(self, delimiter: str) -> bool:
        text = self._current or self._last
        if not text or ('"' not in text[-1] and len(text) == 1):
            return False
        try:
            for _ in csv.reader(text, delimiter=delimiter, strict=True):
                pass
        except csv.Error as exc:
            return "unexpected end of data" in str(exc)
        return False


def _delimiter_name(delimiter: str) -> str:
    return {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}.get(delimiter, delimiter)

"""Delimited text feeds (Google's TSV, CSV catalogs) with a fixed header from the spec.

Two rules keep every record whole and harmless whatever the text holds:

- line breaks: TSV values have tabs and line breaks turned into spaces; CSV values have a
  bare carriage return turned into a line feed, which the csv module then quotes (it
  quotes only the characters of its line terminator, `\n`, so a lone `\r` went out
  unquoted and split the record for every reader that treats it as a line end);
- formulas: with the format's `formula_guard` (on unless a channel needs values verbatim,
  and settable per channel as `csv_formula_guard`), a text cell starting with `=`, `+`,
  `-`, `@`, a tab or a carriage return gets a leading `'`, so a merchandiser opening the
  feed in a spreadsheet sees text instead of running a formula (OWASP "CSV injection").
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from feedsync.channels.render import Group, Item, scalar_text
from feedsync.writers.base import FeedWriter

# What a spreadsheet takes for the start of a formula (or of a hidden cell break).
FORMULA_STARTS = frozenset("=+-@\t\r")


def _protect(value: str, separator: str) -> str:
    """A URL holding the list separator (`a,b.jpg` in a comma-joined image list) would read
    back as two values: percent-encode the separator in it, as the URL's own escape."""
    if separator in value and value[:4].lower() == "http" and len(separator) == 1:
        return value.replace(separator, f"%{ord(separator):02X}")
    return value


class DelimitedWriter(FeedWriter):
    def begin(self) -> None:
        fmt = self.fmt
        names = fmt.fields or [f.name for f in self.spec.fields]
        self.columns = names
        # Each layout slot's alternatives (`region|postal_code`), split once, not per item.
        self.layouts = {f.name: [slot.split("|") for slot in f.layout]
                        for f in self.spec.fields if f.layout}
        self.separators = {f.name: f.separator for f in self.spec.fields if f.separator}
        headers = [(self.spec.field(n).header or n) for n in names]  # type: ignore[union-attr]
        self.tab = fmt.delimiter == "\t"
        self.guard = fmt.formula_guard
        self.delimiter = fmt.delimiter
        self._buffer = io.StringIO()
        # TSV: Google reads raw tab-separated lines, so values are cleaned, not quoted.
        self._csv = csv.writer(self._buffer, delimiter=fmt.delimiter, lineterminator="\n",
                               quoting=csv.QUOTE_NONE if self.tab else csv.QUOTE_MINIMAL,
                               escapechar=None)
        self._encode = self._compile_encode()
        self._write_row(headers)

    def _clean(self, text: str) -> str:
        # Tabs and line breaks would split a TSV record: each becomes a space.
        if self.tab and ("\t" in text or "\n" in text or "\r" in text):
            return " ".join(text.replace("\t", " ").split())
        if "\r" in text:  # CSV: see the module docstring
            return text.replace("\r\n", "\n").replace("\r", "\n")
        return text

    def _text(self, text: str) -> str:
        """A text cell made safe for the format: line breaks, then the formula guard."""
        if "\r" in text or (self.tab and ("\t" in text or "\n" in text)):
            text = self._clean(text)
        if self.guard and text and text[0] in FORMULA_STARTS:
            return "'" + text
        return text

    def _cell(self, name: str, value: object) -> str:
        if not isinstance(value, list):
            return scalar_text(value)
        fmt = self.fmt
        if value and isinstance(value[0], dict):
            layout = self.layouts.get(name)
            tab = self.tab
            texts = []
            for group in value:
                text = self._group(group, layout)
                # _clean only changes a text with a line break (or, for TSV, a tab)
                if "\r" in text or (tab and ("\t" in text or "\n" in text)):
                    text = self._clean(text)
                texts.append(text)
            return self._text(fmt.group_separator.join(texts))
        separator = self.separators.get(name, fmt.list_separator)
        # _protect changes only a value holding the separator: called for those alone
        return self._text(separator.join([
            _protect(v, separator) if separator in v else v for v in value]))

    def _group(self, group: Group, layout: list[list[str]] | None) -> str:
        if not layout:
            return self.fmt.subfield_separator.join(group.values())
        parts = []
        for alternatives in layout:  # each slot: its first alternative the group has
            for key in alternatives:
                if key in group:
                    parts.append(group[key])
                    break
            else:
                parts.append("")
        while parts and not parts[-1]:
            parts.pop()
        return self.fmt.subfield_separator.join(parts)

    def _row_bytes(self, cells: list[str]) -> bytes:
        if self.tab:
            return ("\t".join(cells) + "\n").encode("utf-8")
        # csv.writer into a StringIO per row cost more than the rest of the row; the rows
        # are written here as csv writes them (QUOTE_MINIMAL, doublequote, `\n`
        # terminator): a cell holding the delimiter, the quote character or a `\n` goes
        # in quotes with its quotes doubled, any other cell as it is. A carriage return
        # (which Python versions quote differently; cells never hold one, see _clean)
        # and a row of one empty cell (written `""`) are left to csv itself.
        # tests/test_encoding_parity.py holds this to csv.writer on random cells.
        delimiter = self.delimiter
        line = delimiter.join(cells)
        if "\r" not in line and line:
            if '"' not in line and "\n" not in line:
                if line.count(delimiter) == len(cells) - 1:
                    return (line + "\n").encode("utf-8")  # no cell to quote
                # Only the delimiter to quote for (a description's commas, the common
                # case): one test a cell instead of three, and no quotes to double.
                line = delimiter.join([
                    f'"{cell}"' if delimiter in cell else cell for cell in cells])
                return (line + "\n").encode("utf-8")
            line = delimiter.join([
                '"' + cell.replace('"', '""') + '"'
                if delimiter in cell or '"' in cell or "\n" in cell else cell
                for cell in cells])
            return (line + "\n").encode("utf-8")
        self._csv.writerow(cells)
        data = self._buffer.getvalue().encode("utf-8")
        self._buffer.seek(0)
        self._buffer.truncate()
        return data

    def _write_row(self, cells: list[str]) -> None:
        self.stream.write(self._row_bytes(cells))

    position_independent = True

    def write(self, item: Item) -> None:
        self.stream.write(self._encode(item))
        self.count += 1

    def _compile_encode(self) -> Callable[[Item], bytes]:
        """`encode`, generated once per output: one straight run of lines per column.

        The loop over the columns asked, for every cell, what is known when the output
        opens (the column's name, whether the format is TSV, whether the formula guard is
        on); here those are settled once, and a plain text cell needing nothing (most
        cells) costs a lookup and a test or two. Anything else goes to `_text` and
        `_cell`, which hold the one definition of what a cell becomes
        (tests/test_encoding_parity.py holds this to a plain loop over the columns)."""
        checks = ['"\\r" in v']
        if self.tab:
            checks += ['"\\t" in v', '"\\n" in v']
        if self.guard:
            checks.append("(v and v[0] in FORMULA_STARTS)")
        needs_text = " or ".join(checks)
        lines = ["def encode(item):", "    get = item.get"]
        names = []
        for index, name in enumerate(self.columns):
            cell = f"c{index}"
            names.append(cell)
            lines += [f"    v = get({name!r})",
                      "    if v is None:",
                      f"        {cell} = ''",
                      "    elif v.__class__ is str:",
                      f"        {cell} = text(v) if {needs_text} else v",
                      "    else:",
                      f"        {cell} = cell({name!r}, v)"]
        lines.append(f"    return row_bytes([{', '.join(names)}])")
        namespace: dict[str, Any] = {"FORMULA_STARTS": FORMULA_STARTS, "text": self._text,
                                     "cell": self._cell, "row_bytes": self._row_bytes}
        exec("\n".join(lines), namespace)
        return namespace["encode"]  # type: ignore[no-any-return]

    def encode(self, item: Item) -> bytes:
        return self._encode(item)


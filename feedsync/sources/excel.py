"""Excel workbooks (.xlsx, .xlsm) as product masters.

Two readers sit behind one `ExcelSource`, so values come out the same whichever reads:

* openpyxl in read-only mode streams rows in constant memory (defusedxml guards the XML);
* python-calamine (Rust) is several times faster but loads the whole sheet into memory.

`reader: auto` uses calamine for workbooks up to `CALAMINE_MAX_BYTES` on disk and openpyxl
above it (figures in benchmarks/bench_read.py and the README's Sources section). Cells are
typed: numbers keep their value (written with the master locale's decimal symbol), dates
become ISO 8601, booleans TRUE/FALSE, formulas their cached value. A formula without a cached
value (a workbook written by a program that never calculated it) is a warning on its row.
Row numbers are Excel's own, so an issue points at the row a merchandiser sees.
"""

from __future__ import annotations

import re
import threading
import warnings
import zipfile
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from itertools import zip_longest
from pathlib import Path
from typing import Any

from openpyxl.utils import get_column_letter

from feedsync.checks import codes
from feedsync.checks.issue import warning
from feedsync.errors import SourceError
from feedsync.sources.base import SourceRow
from feedsync.sources.cells import CellFormatter
from feedsync.sources.csv import check_readable_file

# Decided from benchmarks/bench_read.py (100,000 rows x 14 columns, a 7 MB workbook):
# openpyxl 4,000 rows/s at 57 MB peak RSS, calamine 81,000 rows/s at 182 MB (the sheet in
# memory: about 20x the file size). Up to 8 MB the ~150 MB is worth a 20x speed-up; above
# it, memory would grow with the workbook, so openpyxl streams.
CALAMINE_MAX_BYTES = 8 * 1024 * 1024
# A real workbook unpacks to a few times its size (shared strings, sheet XML): these leave
# room for a million-row sheet while refusing zip bombs.
MAX_UNPACKED_BYTES = 4 * 1024**3
MAX_UNPACK_RATIO = 200
# Both readers hold every shared string in memory as Python/Rust strings (several times the
# XML's size): 256 MiB of shared-strings XML is far beyond a million-row catalog's titles,
# and keeps a "shared strings bomb" under the ratio guard from taking gigabytes.
MAX_SHARED_STRINGS_BYTES = 256 * 1024**2
# calamine allocates the sheet's whole rectangle (first to last cell, empty or not), about
# 32 bytes a cell: a workbook with one far-away cell (XFD1048576) would ask for 500 GiB and
# abort the process. Above this many cells in the rectangle, openpyxl streams instead.
CALAMINE_MAX_CELLS = 30_000_000
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_PATCH_LOCK = threading.Lock()
_FORMULA_TAG = re.compile(rb"<(?:\w+:)?f[ >/]")
_ROW_NUMBER = re.compile(rb"<(?:\w+:)?row [^>]*?\br=\"(\d+)\"")
_WIDE_CELL = {3: re.compile(rb"\br=\"[A-Z]{3}\d"), 2: re.compile(rb"\br=\"[A-Z]{2}\d")}
_FAR_ROW_CELL = {7: re.compile(rb"\br=\"[A-Z]{1,3}\d{7}"), 6: re.compile(rb"\br=\"[A-Z]{1,3}\d{6}")}


class ExcelSource:
    """One worksheet of a workbook, streamed as SourceRows numbered as in Excel."""

    def __init__(self, path: Path, *, sheet: str | int | None = None,
                 header_row: int | None = None, reader: str = "auto",
                 locale: str | None = None) -> None:
        self.path = path
        self.name = path.name
        check_readable_file(path)
        self._check_container()
        self.format = CellFormatter(locale)
        self._sheet_member: str | None = None  # the sheet's XML part inside the zip
        self._scan: _SheetScan | None = None
        reader_choice = reader
        if reader == "auto":
            reader = "calamine" if path.stat().st_size <= CALAMINE_MAX_BYTES else "openpyxl"
        self.reader = reader  # sheet names only: calamine reads no sheet for them
        self.sheet_names = self._sheet_names()
        self.sheet = self._pick_sheet(sheet)
        scan = self._sheet_scan()
        if reader == "calamine" and scan.cells_bound > CALAMINE_MAX_CELLS:
            reader = "openpyxl"  # the sheet's rectangle would not fit in memory
        if reader == "calamine" and reader_choice == "auto" and scan.has_formulas:
            reader = "openpyxl"  # only openpyxl can tell a formula lacks its cached value
        self.reader = reader
        self.header_row = header_row
        self._header: list[str] | None = None

    # -- opening --------------------------------------------------------------------------

    def _check_container(self) -> None:
        with self.path.open("rb") as fh:
            magic = fh.read(8)
        if magic == _OLE2_MAGIC:
            raise SourceError(
                f"{self.name} is password-protected or an old .xls workbook; save it as an "
                "unprotected .xlsx")
        if not zipfile.is_zipfile(self.path):
            raise SourceError(f"{self.name} is not an Excel .xlsx workbook (it is not a zip "
                              "archive; the file may be damaged or have the wrong extension)")
        self._check_unpacked_size()

    def _check_unpacked_size(self) -> None:
        """Refuse zip bombs before any XML is parsed: budget the declared unpacked size
        (cheap, from the directory) here, and what the members really inflate to (sizes in
        a zip can lie) in `_sheet_scan`, before either reader parses a byte."""
        try:
            with zipfile.ZipFile(self.path) as archive:
                unpacked = sum(member.file_size for member in archive.infolist())
        except (zipfile.BadZipFile, OSError) as exc:
            raise SourceError(f"{self.name} cannot be read as a workbook: {exc}") from exc
        self._refuse_if_bomb(unpacked)

    def _refuse_if_bomb(self, unpacked: int) -> None:
        packed = max(self.path.stat().st_size, 1)
        if unpacked > MAX_UNPACKED_BYTES or unpacked / packed > MAX_UNPACK_RATIO:
            raise SourceError(
                f"{self.name} would unpack to {unpacked / 2**20:,.0f} MiB from "
                f"{packed / 2**20:,.1f} MiB; that looks like a zip bomb, so it is not opened")

    def _sheet_scan(self) -> _SheetScan:
        """Inflate every member once, counting real bytes against the budgets, and look
        at the chosen sheet's XML on the way (formulas, how far its cells reach)."""
        if self._scan is not None:
            return self._scan
        if self._sheet_member is None:
            self._sheet_member = _sheet_member(self.path, self.sheet)
        scan = _SheetScan(has_formulas=self._sheet_member is None)
        unpacked = 0
        try:
            with zipfile.ZipFile(self.path) as archive:
                if self._sheet_member and self._sheet_member not in archive.namelist():
                    raise SourceError(f"{self.name} is damaged: sheet {self.sheet!r} has no "
                                      f"part {self._sheet_member} in the workbook")
                for member in archive.infolist():
                    is_sheet = member.filename == self._sheet_member
                    is_strings = member.filename.lower().endswith("sharedstrings.xml")
                    inflated = 0
                    tail = b""
                    with archive.open(member) as fh:
                        while chunk := fh.read(1 << 20):
                            inflated += len(chunk)
                            self._refuse_if_bomb(unpacked + inflated)
                            if is_strings and inflated > MAX_SHARED_STRINGS_BYTES:
                                raise SourceError(
                                    f"{self.name} holds more than "
                                    f"{MAX_SHARED_STRINGS_BYTES // 2**20} MiB of shared "
                                    "strings; that looks like a zip bomb, so it is not opened")
                            if is_sheet:
                                scan.look_at(tail + chunk)
                                tail = chunk[-24:]
                    unpacked += inflated
        except SourceError:
            raise
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise SourceError(f"{self.name} is damaged: {_first_line(exc)}") from exc
        self._scan = scan
        return scan

    def _sheet_names(self) -> list[str]:
        try:
            if self.reader == "calamine":
                from python_calamine import CalamineWorkbook

                with CalamineWorkbook.from_path(str(self.path)) as workbook:
                    return list(workbook.sheet_names)
            workbook = self._openpyxl(data_only=True)
            try:
                return list(workbook.sheetnames)
            finally:
                workbook.close()
        except SourceError:
            raise
        except Exception as exc:  # both libraries raise many kinds on damaged files
            raise SourceError(f"{self.name} cannot be read as a workbook: "
                              f"{_first_line(exc)}") from exc

    def _pick_sheet(self, sheet: str | int | None) -> str:
        if not self.sheet_names:
            raise SourceError(f"{self.name} has no worksheets")
        if sheet is None:
            return self.sheet_names[0]
        if isinstance(sheet, int):
            if 1 <= sheet <= len(self.sheet_names):
                return self.sheet_names[sheet - 1]
            raise SourceError(f"{self.name} has {len(self.sheet_names)} sheet(s), so there is "
                              f"no sheet {sheet}")
        if sheet in self.sheet_names:
            return sheet
        folded = {s.casefold(): s for s in self.sheet_names}
        if sheet.casefold() in folded:
            return folded[sheet.casefold()]
        raise SourceError(f"{self.name} has no sheet named {sheet!r}; its sheets are: "
                          + ", ".join(repr(s) for s in self.sheet_names))

    def _openpyxl(self, *, data_only: bool) -> Any:
        from openpyxl import load_workbook

        try:
            with warnings.catch_warnings(), _no_dimension_scan():
                # e.g. "Workbook contains no default style": harmless for reading values.
                warnings.simplefilter("ignore", UserWarning)
                return load_workbook(self.path, read_only=True, data_only=data_only,
                                     keep_links=False)
        except Exception as exc:
            raise SourceError(f"{self.name} cannot be read as a workbook: "
                              f"{_first_line(exc)}") from exc

    # -- reading --------------------------------------------------------------------------

    @property
    def columns(self) -> list[str]:
        if self._header is None:
            reading = self.rows()
            next(reading, None)
            reading.close()
            if self._header is None:
                raise SourceError(f"sheet {self.sheet!r} of {self.name} is empty: there is "
                                  "no header row")
        return self._header

    def rows(self) -> Generator[SourceRow, None, None]:
        raw = self._calamine_rows() if self.reader == "calamine" else self._openpyxl_rows()
        header: list[str] | None = None
        width = 0
        for row_number, cells, missing_formulas in raw:
            if header is None:
                if self.header_row is not None and row_number < self.header_row:
                    continue
                texts = [self.format.text(c) for c in cells]
                if not any(t and t.strip() for t in texts):
                    if self.header_row is not None:
                        raise SourceError(f"row {self.header_row} of sheet {self.sheet!r} in "
                                          f"{self.name} is empty, so it holds no headers")
                    continue
                header = _header(texts)
                width = len(header)
                self._header = header
                continue
            values = [self.format.text(c) for c in cells[:width]]
            if not any(v is not None and v.strip() for v in values):
                continue  # blank rows (LibreOffice writes styled empty rows) are not products
            values += [None] * (width - len(values))
            issues = []
            for column_index in missing_formulas:
                if column_index < width:
                    issues.append(warning(
                        codes.FORMULA_WITHOUT_VALUE,
                        f"cell {get_column_letter(column_index + 1)}{row_number} is a formula "
                        "with no calculated value (open and save the workbook in Excel or "
                        "LibreOffice); it is read as empty", row=row_number,
                        column=header[column_index]))
            yield SourceRow(row_number, dict(zip(header, values, strict=True)), issues)
        if header is None and self.header_row is not None:
            raise SourceError(f"sheet {self.sheet!r} of {self.name} has fewer than "
                              f"{self.header_row} rows")

    def _openpyxl_rows(self) -> Iterator[tuple[int, list[Any], list[int]]]:
        values_book = self._openpyxl(data_only=True)
        formula_book = self._openpyxl(data_only=False) if self._has_formulas() else None
        try:
            values = _all_rows(values_book[self.sheet])
            formulas = _all_rows(formula_book[self.sheet]) if formula_book is not None else None
            for index, cells in enumerate(values, start=1):
                missing: list[int] = []
                if formulas is not None:
                    formula_cells = next(formulas, ())
                    missing = [i for i, (v, f) in enumerate(zip_longest(cells, formula_cells))
                               if v is None and isinstance(f, str) and f.startswith("=")]
                yield index, list(cells), missing
        except SourceError:
            raise
        except Exception as exc:
            raise SourceError(f"{self.name} cannot be read as a workbook: "
                              f"{_first_line(exc)}") from exc
        finally:
            values_book.close()
            if formula_book is not None:
                formula_book.close()

    def _has_formulas(self) -> bool:
        """Whether the sheet's XML has any <f> element (only then is a second pass needed)."""
        return self._sheet_scan().has_formulas

    def _calamine_rows(self) -> Iterator[tuple[int, list[Any], list[int]]]:
        from python_calamine import CalamineWorkbook

        try:
            with CalamineWorkbook.from_path(str(self.path)) as workbook:
                sheet = workbook.get_sheet_by_name(self.sheet)
                # iter_rows starts at A1 whatever `sheet.start` says, so rows count from 1.
                for index, cells in enumerate(sheet.iter_rows(), start=1):
                    yield index, list(cells), []
        except SourceError:
            raise
        except Exception as exc:
            raise SourceError(f"{self.name} cannot be read as a workbook: "
                              f"{_first_line(exc)}") from exc


class _SheetScan:
    """What one pass over a sheet's XML tells before a reader is chosen."""

    def __init__(self, has_formulas: bool = False) -> None:
        self.has_formulas = has_formulas
        self.max_row = 0
        self.letters = 1  # the most letters in a cell reference's column: 1 (A-Z), 2, 3
        self.far_row_digits = 0

    def look_at(self, data: bytes) -> None:
        if not self.has_formulas and _FORMULA_TAG.search(data):
            self.has_formulas = True
        for match in _ROW_NUMBER.finditer(data):
            self.max_row = max(self.max_row, int(match.group(1)))
        for letters, pattern in _WIDE_CELL.items():
            if letters > self.letters and pattern.search(data):
                self.letters = letters
        for digits, pattern in _FAR_ROW_CELL.items():
            if digits > self.far_row_digits and pattern.search(data):
                self.far_row_digits = digits

    @property
    def cells_bound(self) -> int:
        """An upper bound of the cells in the sheet's rectangle, as calamine allocates it."""
        rows = max(self.max_row, 10 ** self.far_row_digits if self.far_row_digits else 0, 1)
        columns = {1: 26, 2: 702, 3: 16_384}[self.letters]
        return rows * columns


@contextmanager
def _no_dimension_scan() -> Iterator[None]:
    """Load a read-only workbook without sizing its sheets.

    openpyxl sizes every sheet on load from its <dimension>; a sheet without one (openpyxl's
    own write-only mode, some exporters) is parsed to the end just for that, which doubled
    read time in benchmarks/bench_read.py. feedsync never uses the size (`_all_rows` resets
    it), so the sizing is skipped for the duration of the load.
    """
    from openpyxl.worksheet._read_only import ReadOnlyWorksheet

    with _PATCH_LOCK:
        # A private openpyxl method, absent from its stubs: hence setattr/getattr.
        original = getattr(ReadOnlyWorksheet, "_get_size")  # noqa: B009
        setattr(ReadOnlyWorksheet, "_get_size", lambda self: None)  # noqa: B010
        try:
            yield
        finally:
            setattr(ReadOnlyWorksheet, "_get_size", original)  # noqa: B010


def _sheet_member(path: Path, sheet: str) -> str | None:
    """The zip member holding a sheet's XML (e.g. xl/worksheets/sheet2.xml), read from the
    workbook's own index rather than by loading the workbook (which parses every string)."""
    from defusedxml.ElementTree import fromstring

    main = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    rel_ns = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
    try:
        with zipfile.ZipFile(path) as archive:
            workbook = fromstring(archive.read("xl/workbook.xml"))
            rels = fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    except (KeyError, zipfile.BadZipFile, ValueError):
        return None
    targets = {r.get("Id"): r.get("Target", "") for r in rels}
    for element in workbook.iter(f"{main}sheet"):
        if element.get("name") == sheet:
            target = targets.get(element.get(f"{rel_ns}id"), "")
            return target.lstrip("/") if target.startswith("/") else f"xl/{target}"
    return None


def _all_rows(worksheet: Any) -> Iterator[tuple[Any, ...]]:
    """Every row, ignoring the <dimension> the file declares: LibreOffice and other writers
    may declare `A1` for a whole sheet, which would cut read-only openpyxl to one cell."""
    worksheet.reset_dimensions()
    rows: Iterator[tuple[Any, ...]] = worksheet.iter_rows(values_only=True)
    return rows


def _header(texts: list[str | None]) -> list[str]:
    """Headers stripped, trailing empty columns dropped, blanks named by their letter."""
    while texts and not (texts[-1] and texts[-1].strip()):
        texts.pop()
    header = []
    for index, text in enumerate(texts):
        name = (text or "").strip() or f"Column {get_column_letter(index + 1)}"
        while name in header:
            name += "_"
        header.append(name)
    return header


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__

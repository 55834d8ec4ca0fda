"""Copy a product master into another kind of source: SQLite, Excel, JSON Lines.

Used to build the example shop's SQLite catalog (`examples/tienda/build_catalog.py`) and,
in the tests, to prove that every source kind of the same shop builds the same feed. The
copy is typed the way a real database or workbook would be: columns the config maps to
prices, weights and quantities become numbers, date columns become dates, everything else
(ids, GTINs, codes) stays text so leading zeros survive.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from feedsync.config import Config
from feedsync.products.dates import parse_datetime
from feedsync.products.numbers import parse_decimal
from feedsync.sources import open_plain_source

NUMERIC_FIELDS = ("price", "sale_price", "shipping_weight", "quantity")
DATE_FIELDS = ("availability_date", "sale_price_start", "sale_price_end")

Record = dict[str, Any]


def typed_records(config: Config) -> tuple[list[str], Iterator[Record]]:
    """The master's columns, and its rows with numeric and date columns typed."""
    src = config.source
    source = open_plain_source(src, config.base_dir)
    kinds: dict[str, str] = {}
    for name, spec in src.columns.items():
        kind = "number" if name in NUMERIC_FIELDS else "date" if name in DATE_FIELDS else None
        if kind:
            for column in [spec] if isinstance(spec, str) else spec:
                kinds[column] = kind

    def convert(column: str, value: str | None) -> Any:
        if value is None or not value.strip():
            return None
        kind = kinds.get(column)
        try:
            if kind == "number":
                number = parse_decimal(value, src.locale)
                return int(number) if number == number.to_integral_value() else number
            if kind == "date":
                return parse_datetime(value, locale=src.locale,
                                      date_format=src.date_format).date()
        except ValueError:
            pass  # a bad value stays text, so the copy reports the same problem
        return value

    def records() -> Iterator[Record]:
        for source_row in source.rows():
            yield {c: convert(c, v) for c, v in source_row.data.items()}

    return source.columns, records()


def write_sqlite(path: Path, table: str, columns: list[str], records: Iterator[Record]) -> int:
    path.unlink(missing_ok=True)
    quoted = ", ".join(f'"{c}"' for c in columns)
    with sqlite3.connect(path) as db:
        db.execute(f'CREATE TABLE "{table}" ({quoted})')
        marks = ", ".join("?" for _ in columns)
        count = 0
        for record in records:
            count += 1
            db.execute(f'INSERT INTO "{table}" VALUES ({marks})',
                       [_sqlite_value(record.get(c)) for c in columns])
    return count


def write_xlsx(path: Path, columns: list[str], records: Iterator[Record],
               sheet: str = "Productos") -> int:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    worksheet = workbook.create_sheet(sheet)
    worksheet.append(columns)
    count = 0
    for record in records:
        count += 1
        worksheet.append([_xlsx_value(record.get(c)) for c in columns])
    workbook.save(path)
    return count


def write_jsonl(path: Path, columns: list[str], records: Iterator[Record]) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as fh:
        for record in records:
            count += 1
            fh.write(json.dumps({c: _json_value(record.get(c)) for c in columns},
                                ensure_ascii=False) + "\n")
    return count


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _xlsx_value(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, date):
        return value.isoformat()
    return value

"""Reading the small files rules refer to: lookup tables, id lists, rate tables, campaigns."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import yaml

from feedsync.sources.csv import detect_encoding, sniff_delimiter


class TableError(ValueError):
    """A rule's file is missing or unreadable; the message names it."""


def read_text(path: Path) -> str:
    if not path.is_file():
        raise TableError(f"file {path} not found")
    try:
        raw = path.read_bytes()
        return raw.decode(detect_encoding(raw[:65536])).lstrip("\ufeff")
    except (OSError, UnicodeDecodeError, LookupError) as exc:
        raise TableError(f"cannot read {path}: {exc}") from exc


def read_rows(path: Path) -> list[dict[str, str]]:
    """A CSV/TSV file with a header row, as dicts (with `_line`: the file's line number)."""
    text = read_text(path)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=sniff_delimiter(text))
    rows = []
    for row in reader:
        clean = {(k or "").strip(): (v or "").strip() for k, v in row.items() if k is not None}
        clean["_line"] = str(reader.line_num)
        rows.append(clean)
    return rows


def read_mapping(path: Path, key_column: str | None,
                 value_column: str | None) -> dict[str, str | None]:
    """key -> value from a YAML mapping or a CSV (the first two columns unless named)."""
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            data: Any = yaml.safe_load(read_text(path))
        except yaml.YAMLError as exc:
            raise TableError(f"{path.name} is not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise TableError(f"{path.name} must be a YAML mapping of key: value")
        return {str(k): None if v is None else str(v) for k, v in data.items()}
    rows = read_rows(path)
    if not rows:
        return {}
    header = [k for k in rows[0] if k != "_line"]
    key = key_column or header[0]
    value = value_column or (header[1] if len(header) > 1 else None)
    for wanted in (key, value):
        if wanted is None or wanted not in header:
            raise TableError(f"{path.name} has no column {wanted!r} (it has "
                             f"{', '.join(header)})")
    assert value is not None
    return {row[key]: row[value] for row in rows if row[key]}


def read_ids(path: Path) -> frozenset[str]:
    """One id a line; for a .csv, the first column (a header named id/sku is skipped)."""
    text = read_text(path)
    ids = set()
    if path.suffix.lower() == ".csv":
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=sniff_delimiter(text))
        for n, row in enumerate(reader):
            if row and row[0].strip() and not (n == 0 and row[0].strip().lower() in
                                               ("id", "sku", "product_id")):
                ids.add(row[0].strip())
        return frozenset(ids)
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            ids.add(line)
    return frozenset(ids)

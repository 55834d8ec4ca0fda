"""Every source kind of the example shop builds the same Google feed items."""

from __future__ import annotations

from pathlib import Path

import pytest

from feedsync.config import load_config
from feedsync.sources.convert import typed_records, write_jsonl, write_sqlite, write_xlsx
from tests.sources.helpers import render_items, with_source


@pytest.fixture
def copies(tienda: Path) -> dict[str, object]:
    """The example master copied into SQLite, xlsx (read by both readers) and JSON Lines."""
    folder = tienda.parent
    config = load_config(tienda)
    write_sqlite(folder / "catalog.db", "productos", *typed_records(config))
    write_xlsx(folder / "productos.xlsx", *typed_records(config))
    write_jsonl(folder / "productos.jsonl", *typed_records(config))
    return {
        "csv": config,
        "sqlite": with_source(tienda, folder / "sqlite.yaml", path=None,
                              url="sqlite:///catalog.db", table="productos"),
        "xlsx-openpyxl": with_source(tienda, folder / "xlsx1.yaml", path="productos.xlsx",
                                     reader="openpyxl"),
        "xlsx-calamine": with_source(tienda, folder / "xlsx2.yaml", path="productos.xlsx",
                                     reader="calamine"),
        "jsonl": with_source(tienda, folder / "jsonl.yaml", path="productos.jsonl"),
    }


def test_every_source_kind_builds_identical_items(copies: dict) -> None:
    expected, expected_issues = render_items(copies["csv"])
    assert len(expected) >= 35
    for kind, config in copies.items():
        items, issues = render_items(config)
        assert items == expected, kind
        assert sorted(i.code for i in issues) == sorted(i.code for i in expected_issues), kind


def test_typed_copies_really_are_typed(copies: dict) -> None:
    """The equality above means something only if the copies hold numbers and dates."""
    import sqlite3

    folder = copies["csv"].base_dir
    with sqlite3.connect(folder / "catalog.db") as db:
        price, quantity = db.execute("SELECT PVP, Cantidad FROM productos LIMIT 1").fetchone()
    assert isinstance(price, float) and isinstance(quantity, int)
    from openpyxl import load_workbook

    sheet = load_workbook(folder / "productos.xlsx", read_only=True).active
    row = next(sheet.iter_rows(min_row=2, values_only=True))
    assert isinstance(row[6], float)


def test_example_sqlite_catalog_builds_the_same_feed(tienda: Path) -> None:
    """examples/tienda/build_catalog.py + feedsync-sqlite.yaml give the CSV's feed, byte
    for byte."""
    import subprocess
    import sys

    from feedsync.api import run_build

    folder = tienda.parent
    subprocess.run([sys.executable, str(folder / "build_catalog.py")], check=True,
                   capture_output=True)
    run_build(load_config(tienda), ["google_es"])
    run_build(load_config(folder / "feedsync-sqlite.yaml"))
    assert (folder / "feeds/google_es_sqlite.xml").read_bytes() == (
        folder / "feeds/google_es.xml").read_bytes()

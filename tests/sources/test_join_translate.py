"""Joined sources (stock from a database joined to a workbook) and read-time translation."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from openpyxl import Workbook

from feedsync.config import TranslateConfig
from feedsync.errors import ConfigError
from feedsync.sources import open_source
from feedsync.sources.translate import ColumnTranslation
from tests.sources.helpers import render_items, write_config


def _catalog(folder: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Catalogo"
    sheet.append(["Codigo", "Nombre", "Descripcion", "URL", "Imagen", "PVP", "Stock", "Alta"])
    for code, name, price, stock, alta in [("123", "Abrigo", 49.9, "Sí", "20/11/2026"),
                                           ("ab-7", "Bufanda", 12.5, "Sí", "01/12/2026"),
                                           ("9", "Gorro", 9.95, "No", "")]:
        sheet.append([code, name, f"{name} de lana", f"https://t.example/{code}",
                      f"https://t.example/{code}.jpg", price, stock, alta])
    workbook.save(folder / "catalogo.xlsx")
    with sqlite3.connect(folder / "erp.db") as db:
        db.execute("CREATE TABLE stock (codigo TEXT, existencias INTEGER, estado TEXT, "
                   "pvp REAL)")
        db.executemany("INSERT INTO stock VALUES (?, ?, ?, ?)", [
            ("000123", 4, "Disponible", 44.9), ("AB-7", 0, "Agotado", None),
            ("000555", 1, "Disponible", 5.0)])


def _config(folder: Path, **overrides: object):
    source = {
        "path": "catalogo.xlsx", "sheet": "Catalogo", "locale": "es_ES",
        "columns": {"id": "Codigo", "title": "Nombre", "description": "Descripcion",
                    "link": "URL", "image_link": "Imagen", "price": "PVP",
                    "availability": "estado", "quantity": "existencias"},
        "defaults": {"currency": "EUR", "condition": "new", "availability": "in_stock",
                     "brand": "Ferretería Ejemplo"},
        "join": [{"url": "sqlite:///erp.db", "table": "stock", "key": "codigo",
                  "columns": {"existencias": "existencias", "estado": "estado",
                              "pvp": "PVP"}}],
        "translate": {"Codigo": {"zero_pad": 6, "upper": True},
                      "estado": {"map": {"Disponible": "in_stock", "Agotado": "out_of_stock"}},
                      "Stock": {"map": {"Sí": "yes", "No": "no"}},
                      "Alta": {"date_format": "%d/%m/%Y"}},
        **overrides}
    return write_config(folder / "feedsync.yaml", {"source": source, "channels": {}})


def test_stock_and_price_joined_from_the_database(tmp_path: Path) -> None:
    _catalog(tmp_path)
    items, issues = render_items(_config(tmp_path))
    by_id = {i["id"]: i for i in items}
    assert set(by_id) == {"000123", "AB-7", "000009"}
    assert by_id["000123"]["price"] == "44.90 EUR"  # the database's price wins
    assert by_id["000123"]["availability"] == "in_stock"
    assert by_id["AB-7"]["availability"] == "out_of_stock"
    assert by_id["AB-7"]["price"] == "12.50 EUR"  # an empty joined value keeps the master's
    assert by_id["000009"]["availability"] == "in_stock"  # no stock row: the default
    [unmatched] = [i for i in issues if i.code == "join-unmatched"]
    assert unmatched.product_id == "000555"
    assert "stock in sqlite:///" in unmatched.message and "row 3" in unmatched.message


def test_translation_rewrites_values_while_reading(tmp_path: Path) -> None:
    _catalog(tmp_path)
    rows = list(open_source(_config(tmp_path)).rows())
    assert [r.data["Codigo"] for r in rows] == ["000123", "AB-7", "000009"]
    assert [r.data["Stock"] for r in rows] == ["yes", "yes", "no"]
    assert [r.data["Alta"] for r in rows] == ["2026-11-20", "2026-12-01", None]


def test_a_date_that_does_not_match_is_a_row_error(tmp_path: Path) -> None:
    _catalog(tmp_path)
    config = _config(tmp_path, translate={"Alta": {"date_format": "%Y-%m-%d"}})
    rows = list(open_source(config).rows())
    [issue] = rows[0].issues
    assert issue.is_error and issue.row == 2
    assert "Alta '20/11/2026' does not match the date format %Y-%m-%d" in issue.message


def test_translate_of_an_unknown_column(tmp_path: Path) -> None:
    _catalog(tmp_path)
    with pytest.raises(ConfigError, match=r"'Precio' that catalogo\.xlsx does not have"):
        open_source(_config(tmp_path, translate={"Precio": {"upper": True}}))


def test_join_key_must_exist(tmp_path: Path) -> None:
    _catalog(tmp_path)
    config = _config(tmp_path, join=[{"url": "sqlite:///erp.db", "table": "stock",
                                      "key": "sku"}])
    with pytest.raises(ConfigError, match="has no key column 'sku'"):
        open_source(config)


@pytest.mark.parametrize(("rule", "value", "expected"), [
    ({"zero_pad": 8}, " 42 ", "00000042"),
    ({"zero_pad": 8}, "A42", "A42"),
    ({"upper": True}, "ab-7", "AB-7"),
    ({"map": {"Agotado": "out_of_stock"}}, "AGOTADO", "out_of_stock"),
    ({"date_format": "%d/%m/%Y %H:%M"}, "31/12/2026 18:30", "2026-12-31T18:30:00"),
])
def test_column_translation(rule: dict, value: str, expected: str) -> None:
    assert ColumnTranslation.compile("c", TranslateConfig(**rule)).apply(value) == expected

"""JSON and JSON Lines masters: dotted paths, line numbers, syntax errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from feedsync.errors import SourceError
from feedsync.sources.json_source import JsonSource
from tests.sources.helpers import render_items, write_config

PRODUCT = {"sku": "A-1", "name": "Abrigo", "description": "Abrigo de lana",
           "offers": {"price": 49.9, "currency": "EUR"},
           "images": ["https://x.example/a.jpg", "https://x.example/b.jpg"], "stock": True,
           "link": "https://x.example/a"}


def test_jsonl_flattens_nested_values_with_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(PRODUCT) + "\n\n" + json.dumps({"sku": "B-2"}) + "\n")
    source = JsonSource(path, lines=True, wanted_columns=["offers.sale"])
    rows = list(source.rows())
    assert [r.row for r in rows] == [1, 3]
    assert rows[0].data["offers.price"] == "49.9"
    assert rows[0].data["images"] == "https://x.example/a.jpg|https://x.example/b.jpg"
    assert rows[0].data["images.1"] == "https://x.example/b.jpg"
    assert rows[0].data["stock"] == "TRUE"
    assert "offers.sale" in source.columns and "offers.currency" in source.columns


def test_json_array_items_numbered_by_their_first_line(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text('[\n  {"sku": "A-1"},\n\n  {\n    "sku": "B-2"\n  }\n]\n')
    assert [(r.row, r.data["sku"]) for r in JsonSource(path, lines=False).rows()] == [
        (2, "A-1"), (4, "B-2")]


def test_json_records_path(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"data": {"products": [PRODUCT]}}))
    source = JsonSource(path, lines=False, records="data.products")
    assert [r.data["sku"] for r in source.rows()] == ["A-1"]
    with pytest.raises(SourceError, match=r"set source\.records"):
        list(JsonSource(path, lines=False).rows())


def test_json_source_builds_items_with_dotted_columns(tmp_path: Path) -> None:
    (tmp_path / "p.jsonl").write_text(json.dumps(PRODUCT) + "\n")
    config = write_config(tmp_path / "feedsync.yaml", {"source": {
        "path": "p.jsonl", "columns": {"id": "sku", "title": "name", "price": "offers.price",
                                       "currency": "offers.currency", "images": "images"},
        "defaults": {"availability": "in_stock", "condition": "new", "brand": "Acme"}},
        "channels": {}})
    [item], _ = render_items(config)
    assert item["price"] == "49.90 EUR"
    assert item["image_link"] == "https://x.example/a.jpg"
    assert item["additional_image_link"] == ["https://x.example/b.jpg"]


@pytest.mark.parametrize(("name", "text", "message"), [
    ("p.jsonl", '{"sku": "A-1"}\n{"sku": "B-2",}\n', r"p.jsonl: line 2 is not valid JSON"),
    ("p.json", '[\n{"sku": "A-1"},\n{"sku" "B-2"}\n]', r"p.json: line 3 is not valid JSON"),
    ("p.json", '[\n{"sku": "A-1"}\n{"sku": "B-2"}\n]', r"p.json: line 3 is not valid JSON"),
    ("p.jsonl", '{"sku": "A-1"}\n[1, 2]\n', r"line 2 holds a array, not a product object"),
])
def test_json_syntax_errors_name_the_line(tmp_path: Path, name: str, text: str,
                                          message: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(SourceError, match=message):
        list(JsonSource(path, lines=name.endswith("l")).rows())

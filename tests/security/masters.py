"""Builders of small masters and projects for the hostile-input tests and the fuzz suite."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import yaml

HEADER = ["id", "title", "description", "link", "image_link", "price", "availability",
          "brand", "condition"]


def good_row(product_id: str = "A1", **values: str) -> list[str]:
    """One valid product as CSV cells, with some cells replaced."""
    row = {"id": product_id, "title": "Camiseta", "description": "Algodón",
           "link": f"https://shop.example/{product_id}",
           "image_link": f"https://shop.example/{product_id}.jpg", "price": "10.00",
           "availability": "in_stock", "brand": "Marca", "condition": "new"} | values
    return [row[name] for name in HEADER]


def csv_bytes(*rows: list[str]) -> bytes:
    """A CSV master (header + rows), each cell quoted."""
    lines = [",".join(HEADER)] + [",".join('"' + c.replace('"', '""') + '"' for c in r)
                                   for r in rows]
    return ("\n".join(lines) + "\n").encode()


def workbook(rows: list[list[Any]]) -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def rezip(data: bytes, drop: str | None = None, replace: dict[str, bytes] | None = None,
          ) -> bytes:
    """The same zip with one member dropped or some members' contents replaced."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if info.filename == drop:
                continue
            target.writestr(info.filename, (replace or {}).get(info.filename,
                                                              source.read(info)))
    return out.getvalue()


CHANNELS = {
    "google": {"spec": "google_merchant", "outputs": ["feeds/google.xml", "feeds/google.tsv"]},
    "meta": {"spec": "meta_catalog", "outputs": ["feeds/meta.csv"]},
    "openai": {"spec": "openai_products", "outputs": ["feeds/openai.jsonl"],
               "settings": {"target_countries": "ES", "store_country": "ES"}},
}


def project(folder: Path, master_name: str, master: bytes, *,
            source: dict[str, Any] | None = None, channels: dict[str, Any] | None = None,
            extra: dict[str, Any] | None = None) -> Path:
    """A project folder with the master and a feedsync.yaml; returns the config path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / master_name).write_bytes(master)
    config = {"source": {"path": master_name, "defaults": {"currency": "EUR"},
                         **(source or {})},
              "channels": CHANNELS if channels is None else channels, **(extra or {})}
    path = folder / "feedsync.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False),
                    encoding="utf-8")
    return path

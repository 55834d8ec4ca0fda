"""Build the example shop's SQLite catalog (catalog.db) and store database (tienda.db)
from productos.csv.

    python examples/tienda/build_catalog.py            # writes catalog.db and tienda.db
    feedsync build -c examples/tienda/feedsync-sqlite.yaml
    feedsync sync -c examples/tienda/feedsync.sync.yaml

tienda.db is what the shop's tills write to: `tiendas` (two stores: code and name),
`stock_tiendas` (per store and SKU: quantity, pickup method and time) and `stock` (the
total per SKU, and whether it can be sold), which feedsync.sync.yaml joins to the master.

The copy is typed as a shop database would be (prices and weights are numbers, dates are
dates); `feedsync-sqlite.yaml` maps the same columns as `feedsync.yaml` and builds the same
feed. `--xlsx` and `--jsonl` also write productos.xlsx and productos.jsonl.
"""

from __future__ import annotations

import csv
import sqlite3
import sys
from pathlib import Path

from feedsync.config import load_config
from feedsync.sources.convert import typed_records, write_jsonl, write_sqlite, write_xlsx

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    config = load_config(HERE / "feedsync.yaml")
    count = write_sqlite(HERE / "catalog.db", "productos", *typed_records(config))
    print(f"{HERE / 'catalog.db'}: table productos, {count} rows")
    stores, rows = write_store_db(HERE / "tienda.db", HERE / "productos.csv")
    print(f"{HERE / 'tienda.db'}: {stores} stores, {rows} stock rows")
    if "--xlsx" in argv:
        write_xlsx(HERE / "productos.xlsx", *typed_records(config))
        print(f"{HERE / 'productos.xlsx'}: sheet Productos, {count} rows")
    if "--jsonl" in argv:
        write_jsonl(HERE / "productos.jsonl", *typed_records(config))
        print(f"{HERE / 'productos.jsonl'}: {count} lines")
    return 0


STORES = [("MAD-01", "Tienda Madrid Centro"), ("BCN-01", "Tienda Barcelona Gràcia")]


def write_store_db(path: Path, master: Path) -> tuple[int, int]:
    """The store database: Madrid holds half of each product's stock (rounded up),
    Barcelona the rest; a product with no stock is in neither store."""
    with master.open(encoding="utf-8-sig", newline="") as fh:
        products = [(row["SKU"], int(row["Cantidad"] or 0))
                    for row in csv.DictReader(fh, delimiter=";")]
    path.unlink(missing_ok=True)
    rows = 0
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE tiendas (codigo TEXT PRIMARY KEY, nombre TEXT NOT NULL)")
        db.executemany("INSERT INTO tiendas VALUES (?, ?)", STORES)
        db.execute("CREATE TABLE stock_tiendas (tienda TEXT, sku TEXT, cantidad INTEGER, "
                   "recogida TEXT, plazo TEXT, PRIMARY KEY (tienda, sku))")
        db.execute("CREATE TABLE stock (sku TEXT PRIMARY KEY, cantidad INTEGER, "
                   "disponibilidad TEXT)")
        for sku, quantity in products:
            madrid = (quantity + 1) // 2
            for (code, _), held in zip(STORES, (madrid, quantity - madrid), strict=True):
                if held:
                    db.execute("INSERT INTO stock_tiendas VALUES (?, ?, ?, 'buy', 'same day')",
                               (code, sku, held))
                    rows += 1
            db.execute("INSERT INTO stock VALUES (?, ?, ?)",
                       (sku, quantity, "Disponible" if quantity else "Agotado"))
    return len(STORES), rows


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

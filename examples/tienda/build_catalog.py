"""Build the example shop's SQLite catalog (catalog.db) from productos.csv.

    python examples/tienda/build_catalog.py            # writes examples/tienda/catalog.db
    feedsync build -c examples/tienda/feedsync-sqlite.yaml

The copy is typed as a shop database would be (prices and weights are numbers, dates are
dates); `feedsync-sqlite.yaml` maps the same columns as `feedsync.yaml` and builds the same
feed. `--xlsx` and `--jsonl` also write productos.xlsx and productos.jsonl.
"""

from __future__ import annotations

import sys
from pathlib import Path

from feedsync.config import load_config
from feedsync.sources.convert import typed_records, write_jsonl, write_sqlite, write_xlsx

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    config = load_config(HERE / "feedsync.yaml")
    count = write_sqlite(HERE / "catalog.db", "productos", *typed_records(config))
    print(f"{HERE / 'catalog.db'}: table productos, {count} rows")
    if "--xlsx" in argv:
        write_xlsx(HERE / "productos.xlsx", *typed_records(config))
        print(f"{HERE / 'productos.xlsx'}: sheet Productos, {count} rows")
    if "--jsonl" in argv:
        write_jsonl(HERE / "productos.jsonl", *typed_records(config))
        print(f"{HERE / 'productos.jsonl'}: {count} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

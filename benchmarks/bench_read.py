"""Read speed and peak memory of each source kind: rows/s and peak RSS.

    python benchmarks/bench_read.py                  # xlsx 100k (both readers), SQLite 1M,
                                                     # JSONL 1M
    python benchmarks/bench_read.py --scale 0.1      # a tenth of each, for a quick look
    python benchmarks/bench_read.py --only xlsx

Masters are generated once into benchmarks/out/ (git-ignored), shaped like a real catalog
(14 columns: ids, titles, descriptions, URLs, prices, dates, quantities). Each read runs in
its own process, so each peak RSS is that reader's alone; the figure includes the Python
interpreter and feedsync's imports (about 60 MB, shown as the `baseline` line).
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
COLUMNS = ["sku", "title", "description", "link", "image_link", "price", "sale_price",
           "availability", "brand", "gtin", "color", "size", "quantity", "updated"]


def records(count: int):
    rng = random.Random(42)
    colors = ["Blanco", "Negro", "Azul", "Rojo", "Verde"]
    for n in range(count):
        price = round(rng.uniform(5, 500), 2)
        yield [f"SKU-{n:07d}", f"Camiseta de algodón orgánico modelo {n}",
               "Camiseta de manga corta en algodón orgánico 100%, corte regular y cuello "
               f"redondo. Modelo {n}.", f"https://tienda.example.es/p/{n}",
               f"https://cdn.tienda.example.es/img/{n}.jpg", price,
               round(price * 0.8, 2) if n % 5 == 0 else None,
               "Disponible" if n % 7 else "Agotado", "Algodonera", None,
               colors[n % 5], "SML"[n % 3], n % 50, date(2026, 1, 1) + timedelta(days=n % 365)]


def make_xlsx(path: Path, count: int) -> None:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Productos")
    sheet.append(COLUMNS)
    for record in records(count):
        sheet.append(record)
    workbook.save(path)


def make_sqlite(path: Path, count: int) -> None:
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as db:
        db.execute(f"CREATE TABLE products ({', '.join(COLUMNS)})")
        db.executemany(f"INSERT INTO products VALUES ({', '.join('?' * len(COLUMNS))})",
                       ([*r[:-1], r[-1].isoformat()] for r in records(count)))


def make_jsonl(path: Path, count: int) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for record in records(count):
            record[-1] = record[-1].isoformat()
            fh.write(json.dumps(dict(zip(COLUMNS, record, strict=True)), ensure_ascii=False))
            fh.write("\n")


def read(kind: str, path: Path) -> None:
    """Child process: read every row, print rows, seconds and peak RSS as JSON."""
    import resource

    from feedsync.sources.excel import ExcelSource
    from feedsync.sources.json_source import JsonSource
    from feedsync.sources.sql import SqlSource

    started = time.perf_counter()
    if kind == "baseline":
        source = None
    elif kind.startswith("xlsx-"):
        source = ExcelSource(path, reader=kind.removeprefix("xlsx-"), locale="es_ES")
    elif kind == "sqlite":
        source = SqlSource(f"sqlite:///{path}", table="products", locale="es_ES")
    else:
        source = JsonSource(path, lines=True, locale="es_ES")
    rows = sum(1 for _ in source.rows()) if source is not None else 0
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_mb": peak_mb}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every row count")
    parser.add_argument("--only", choices=["xlsx", "sqlite", "jsonl"], action="append")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        read(args.child[0], Path(args.child[1]))
        return
    OUT.mkdir(exist_ok=True)
    sizes = {"xlsx": int(100_000 * args.scale), "sqlite": int(1_000_000 * args.scale),
             "jsonl": int(1_000_000 * args.scale)}
    makers = {"xlsx": make_xlsx, "sqlite": make_sqlite, "jsonl": make_jsonl}
    suffix = {"xlsx": "xlsx", "sqlite": "db", "jsonl": "jsonl"}
    runs = [("baseline", None)]
    for kind in args.only or ["xlsx", "sqlite", "jsonl"]:
        path = OUT / f"master-{sizes[kind]}.{suffix[kind]}"
        if not path.exists():
            print(f"generating {path.name} ({sizes[kind]:,} rows)...", file=sys.stderr)
            makers[kind](path, sizes[kind])
        if kind == "xlsx":
            runs += [("xlsx-openpyxl", path), ("xlsx-calamine", path)]
        else:
            runs.append((kind, path))
    print(f"{'reader':<15} {'rows':>10} {'file MB':>8} {'seconds':>8} {'rows/s':>10} "
          f"{'peak RSS MB':>12}")
    for kind, path in runs:
        result = subprocess.run([sys.executable, __file__, "--child", kind, str(path or "")],
                                capture_output=True, text=True, check=True)
        figures = json.loads(result.stdout)
        rate = figures["rows"] / figures["seconds"] if figures["rows"] else 0
        size = path.stat().st_size / 1e6 if path else 0
        print(f"{kind:<15} {figures['rows']:>10,} {size:>8.1f} {figures['seconds']:>8.2f} "
              f"{rate:>10,.0f} {figures['peak_mb']:>12.0f}")


if __name__ == "__main__":
    main()

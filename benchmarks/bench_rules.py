"""Rules overhead: the same build of N products with and without 10 typical rules.

    python benchmarks/bench_rules.py [N]     (default 200,000)

Prints CPU seconds for each build (best of two interleaved runs) and the overhead of the
rules; the target is under 50% more time. Writes its master and feeds to a temporary folder.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

from feedsync.api import run_build
from feedsync.config import load_config

BRANDS = ["Acme", "Zeta", "Nimbus", "Orbit", "Lumen", "Kappa"]
TYPES = {"Hogar > Cocina > Tazas": "2169", "Hogar > Textil > Mantas": "1985",
         "Ropa > Camisetas": "212", "Electrónica > Auriculares": "505771"}
COLUMNS = ["SKU", "Nombre", "Descripcion", "URL", "Imagen", "PVP", "Stock", "Marca", "EAN",
           "Categoria", "TipoProducto", "Color", "Coste"]

BASE = """\
source:
  path: master.csv
  columns: {id: SKU, title: Nombre, description: Descripcion, link: URL, image_link: Imagen,
            price: PVP, availability: Stock, brand: Marca, gtin: EAN,
            google_product_category: Categoria, product_type: TipoProducto, color: Color}
  defaults: {currency: EUR, condition: new}
channels:
  google:
    spec: google_merchant
    outputs: [feeds/google.xml]
"""

RULES = """\
    rules:
      - filter: {drop: "availability == 'out_of_stock'"}
      - strip_html: description
      - set: {title: "{{ brand }} {{ title }} - {{ color }}"}
      - truncate: title
      - lookup: {field: brand, table: brands.csv, default: Otros}
      - when: "not google_product_category"
        then:
          - map_category: {from: product_type, table: categories.csv}
      - round_price: .99
      - price_buckets:
          into: custom_label_0
          buckets: [{below: 20, label: low}, {below: 100, label: mid}, {label: high}]
      - margin_bands:
          into: custom_label_1
          cost: Coste
          bands: [{below: 30, label: thin}, {label: healthy}]
      - best_sellers: {into: custom_label_2, ids: best.txt}
"""


def write_master(folder: Path, count: int) -> None:
    rnd = random.Random(5)
    types = list(TYPES)
    with (folder / "master.csv").open("w", encoding="utf-8") as fh:
        fh.write(",".join(COLUMNS) + "\n")
        for n in range(count):
            kind = rnd.choice(types)
            price = rnd.randint(300, 30000) / 100
            fh.write(",".join([
                f"SKU-{n:07d}", f"Producto {n} de prueba", f"\"<p>Descripción del producto "
                f"{n}, <b>muy</b> completa.</p>\"", f"https://shop.example.com/p/{n}",
                f"https://cdn.example.com/{n}.jpg", f"{price:.2f}",
                "out_of_stock" if n % 10 == 0 else "in_stock", rnd.choice(BRANDS), "",
                TYPES[kind] if n % 3 else "", f"\"{kind}\"", "Rojo", f"{price * 0.6:.2f}",
            ]) + "\n")
    (folder / "brands.csv").write_text("marca,canal\nAcme,ACME Corp\nZeta,Zeta SA\n",
                                       encoding="utf-8")
    (folder / "categories.csv").write_text(
        "tipo,google\n" + "".join(f"\"{k}\",{v}\n" for k, v in TYPES.items()),
        encoding="utf-8")
    (folder / "best.txt").write_text("".join(f"SKU-{n:07d}\n" for n in range(0, count, 97)),
                                     encoding="utf-8")


def cpu_time(config_path: Path) -> float:
    # CPU time, not wall time: the machine is shared, and waiting for a core is not ours.
    start = time.process_time()
    run_build(load_config(config_path))
    return time.process_time() - start


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_master(folder, count)
        (folder / "plain.yaml").write_text(BASE, encoding="utf-8")
        (folder / "rules.yaml").write_text(BASE + RULES, encoding="utf-8")
        plain = ruled = float("inf")
        for _ in range(2):  # interleaved, best of two each
            plain = min(plain, cpu_time(folder / "plain.yaml"))
            ruled = min(ruled, cpu_time(folder / "rules.yaml"))
    print(f"{count:,} products, google_merchant XML")
    print(f"without rules: {plain:.2f} s CPU ({count / plain:,.0f} products/s)")
    print(f"with 10 rules: {ruled:.2f} s CPU ({count / ruled:,.0f} products/s)")
    print(f"rules overhead: {(ruled / plain - 1) * 100:+.1f}% (target: under +50%)")


if __name__ == "__main__":
    main()

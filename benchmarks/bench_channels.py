"""Build 1, 5 and every channel from one synthetic master; print products/s and peak RSS.

    python benchmarks/bench_channels.py              # 200,000 products
    python benchmarks/bench_channels.py --rows 20000
    python benchmarks/bench_channels.py --rows 1000000 --runs all --jobs 2

Each channel count runs in its own Python process, so its peak RSS is its own (with
`--jobs N`, the largest of that process and its workers). Files go to
benchmarks/out/ (git-ignored). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out" / "channels"

HEADER = ("id;title;description;link;image_link;additional_image_link;price;sale_price;"
          "availability;condition;brand;gtin;mpn;google_product_category;product_type;"
          "item_group_id;color;size;gender;age_group;material;shipping_weight;shipping;quantity;"
          "amazon_product_type;ml_category_id\n")

CHANNELS = {
    "google": "spec: google_merchant, output: feeds/google.xml",
    "meta": "spec: meta_catalog, output: feeds/meta.csv",
    "amazon": "spec: amazon_listings, output: feeds/amazon.json, "
              "settings: {seller_id: A1BENCH}",
    "ebay": "spec: ebay_inventory, output: feeds/ebay.jsonl",
    "chatgpt": "spec: openai_products, output: feeds/chatgpt.jsonl, "
               "settings: {target_countries: ES, store_country: ES}",
    "tiktok": "spec: tiktok_catalog, output: feeds/tiktok.csv",
    "pinterest": "spec: pinterest_catalog, output: feeds/pinterest.tsv",
    "microsoft": "spec: microsoft_merchant, output: feeds/microsoft.txt",
    "mercadolibre": "spec: mercadolibre_items, output: feeds/ml.jsonl",
    "idealo": "spec: idealo, output: feeds/idealo.csv",
}
RUNS = {"1": ["google"], "5": ["google", "meta", "amazon", "ebay", "chatgpt"],
        "all": list(CHANNELS)}

CHILD = """
import json, resource, sys, time
from feedsync.api import run_build
from feedsync.config import load_config
start = time.perf_counter()
report = run_build(load_config(__import__('pathlib').Path(sys.argv[1])), jobs=int(sys.argv[2]))
elapsed = time.perf_counter() - start
# --jobs N: the largest worker (joined by now) may be bigger than this process
peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
           resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
print(json.dumps({"products": report.products, "seconds": elapsed, "peak_mb": peak,
                  "items": {n: c.items for n, c in report.channels.items()}}))
"""


def write_master(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write(HEADER)
        for n in range(rows):
            group = n // 4
            out.write(
                f"B{n:07d};Camiseta de algodón orgánico modelo {group} talla {n % 4};"
                f"Camiseta de manga corta en algodón orgánico, corte regular, modelo {group}.;"
                f"https://tienda.example.es/p/{group}?v={n};"
                f"https://cdn.tienda.example.es/img/{group}.jpg;"
                f"https://cdn.tienda.example.es/img/{group}-2.jpg|"
                f"https://cdn.tienda.example.es/img/{group}-3.jpg;"
                f"{10 + n % 90},95;{'' if n % 5 else '9,95'};Disponible;Nuevo;Marca {n % 40};"
                f";REF-{n};212;Ropa > Camisetas;G{group};Azul;{'SMLX'[n % 4]};Unisex;Adulto;"
                f"Algodón;0,2;ES::Estándar:3,95 EUR;{n % 30};SHIRT;MLM1234\n")


def write_config(folder: Path, channels: list[str]) -> Path:
    lines = ["source:", "  path: ../master.csv", "  locale: es_ES",
             "  defaults: {currency: EUR, weight_unit: kg}",
             "  values:",
             "    availability: {Disponible: in_stock}",
             "    condition: {Nuevo: new}",
             "    gender: {Unisex: unisex}",
             "    age_group: {Adulto: adult}",
             "channels:"]
    lines += [f"  {name}: {{{CHANNELS[name]}}}" for name in channels]
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "feedsync.yaml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--runs", nargs="*", default=list(RUNS), choices=list(RUNS))
    parser.add_argument("--jobs", type=int, default=1,
                        help="feedsync --jobs N (0: feedsync chooses)")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    master = OUT / "master.csv"
    start = time.perf_counter()
    write_master(master, args.rows)
    print(f"master: {args.rows:,} products, {master.stat().st_size / 1e6:.1f} MB, "
          f"written in {time.perf_counter() - start:.1f} s")
    print(f"{'channels':>9} {'products':>9} {'seconds':>8} {'products/s':>11} {'peak RSS':>9}")
    for label in args.runs:
        config = write_config(OUT / f"run_{label}", RUNS[label])
        result = subprocess.run([sys.executable, "-c", CHILD, str(config), str(args.jobs)],
                                check=True, capture_output=True, text=True)
        figures = json.loads(result.stdout.strip().splitlines()[-1])
        rate = figures["products"] / figures["seconds"]
        print(f"{label:>9} {figures['products']:>9,} {figures['seconds']:>8.1f} "
              f"{rate:>11,.0f} {figures['peak_mb']:>7.0f} MB   ({len(RUNS[label])} channels)")


if __name__ == "__main__":
    main()

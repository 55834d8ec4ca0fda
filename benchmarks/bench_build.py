"""Full build benchmark: a seeded synthetic master of N products -> Google XML + TSV.

    python benchmarks/bench_build.py [--products 200000] [--keep DIR] [--jobs N]

Prints products per second and the build process's peak RSS. The master is generated
first (not timed); the build runs as a separate `feedsync build` process so its peak RSS
is its own.
"""

from __future__ import annotations

import argparse
import csv
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from stdnum import ean

COLORS = ["Black", "White", "Red", "Blue", "Green", "Grey", "Navy", "Beige"]
SIZES = ["XS", "S", "M", "L", "XL"]
WORDS = ["soft", "organic", "cotton", "regular", "fit", "crew", "neck", "classic", "everyday",
         "durable", "light", "breathable", "premium", "stretch", "recycled", "comfortable",
         "modern"]


def generate(path: Path, count: int, seed: int = 42) -> None:
    rng = random.Random(seed)
    header = ["sku", "name", "description", "url", "image", "extra_images", "price",
              "sale_price", "stock", "brand", "ean", "mpn", "category", "group", "color",
              "size", "gender", "weight", "shipping"]
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for n in range(count):
            group = n // 5
            body = f"{rng.randrange(10**11):011d}"
            gtin = "5" + body + ean.calc_check_digit("5" + body)
            price = rng.randrange(500, 50000) / 100
            writer.writerow([
                f"SKU-{n:07d}", f"Product {group} {COLORS[n % 8]} {SIZES[n % 5]}",
                " ".join(rng.choice(WORDS) for _ in range(rng.randrange(15, 60))),
                f"https://shop.example.com/p/{group}?v={n}",
                f"https://cdn.example.com/i/{group}.jpg",
                f"https://cdn.example.com/i/{group}-2.jpg|https://cdn.example.com/i/{group}-3.jpg",
                f"{price:.2f}", f"{price * 0.8:.2f}" if n % 7 == 0 else "",
                rng.choice(["in_stock", "in_stock", "out_of_stock", "backorder"]),
                f"Brand {n % 50}", gtin, f"MPN-{n}", "Apparel & Accessories > Clothing",
                f"G-{group}", COLORS[n % 8], SIZES[n % 5], "unisex",
                f"{rng.randrange(1, 3000) / 1000:.3f} kg", "ES::Standard:4.95 EUR"])


CONFIG = """\
source:
  path: master.csv
  columns:
    id: sku
    title: name
    link: url
    image_link: image
    additional_image_link: extra_images
    gtin: ean
    product_type: category
    item_group_id: group
    availability: stock
    shipping_weight: weight
  defaults: {currency: EUR, condition: new}
channels:
  google:
    spec: google_merchant
    outputs: [feeds/google.xml, feeds/google.tsv]
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=200_000)
    parser.add_argument("--keep", type=Path, help="Work in this folder and keep it")
    parser.add_argument("--jobs", type=int, default=1, help="feedsync build --jobs N")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="feedsync-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    master = work / "master.csv"
    started = time.perf_counter()
    generate(master, args.products)
    print(f"generated {args.products:,} products ({master.stat().st_size / 2**20:.1f} MiB) "
          f"in {time.perf_counter() - started:.1f} s")
    (work / "feedsync.yaml").write_text(CONFIG)
    command = [sys.executable, "-m", "feedsync", "build", "-q", "-c", str(work / "feedsync.yaml"),
               "--jobs", str(args.jobs)]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    elapsed = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest process
    sizes = {p.name: p.stat().st_size / 2**20 for p in (work / "feeds").iterdir()}
    print(f"build --jobs {args.jobs}: {args.products:,} products -> Google XML + TSV in "
          f"{elapsed:.1f} s "
          f"= {args.products / elapsed:,.0f} products/s; peak RSS {peak_kib / 1024:.0f} MiB")
    print("outputs: " + ", ".join(f"{n} {s:.1f} MiB" for n, s in sorted(sizes.items())))
    if not args.keep:
        import shutil

        shutil.rmtree(work)


if __name__ == "__main__":
    main()

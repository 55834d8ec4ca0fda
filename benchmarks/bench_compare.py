"""feedsync's Google build against the floor (csv + escape) and pandas, in one run.

    python benchmarks/bench_compare.py                      # 200,000 products, median of 3
    python benchmarks/bench_compare.py --products 1000000 --only feedsync
    python benchmarks/bench_compare.py --layout all-channels --products 1000000 --jobs 1 2
    python benchmarks/bench_compare.py --baseline ../before/.venv/bin/python  # before/after
    pip install -e ".[benchmark]"                           # pandas, for its contender

A seeded master (English shop-export column names, an HTML tag in every description,
some preorders, about 1 product in 50 with a defect) is generated first (not timed).
Then each contender runs as its own child process, alternating in pairs (every round runs
each contender once, in a rotated order, so background load hits them alike); each
child's CPU seconds (user + system, from `wait4`) and peak RSS are its own. The median over
the rounds is printed, with each contender's ratio to feedsync's CPU.

CPU seconds are the figure to compare on a loaded machine; wall seconds are printed too.
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent

HEADER = ["SKU", "Name", "Description", "Product URL", "Image URL", "Gallery Images",
          "Regular Price", "Sale Price", "Stock Status", "Available From", "Condition", "Brand",
          "EAN", "MPN", "Google Category", "Category Path", "Parent SKU", "Colour", "Size",
          "Gender", "Age Group", "Material", "Weight", "Shipping", "Stock Quantity"]
COLUMNS = {
    "id": "SKU", "title": "Name", "description": "Description", "link": "Product URL",
    "image_link": "Image URL", "additional_image_link": "Gallery Images",
    "price": "Regular Price", "sale_price": "Sale Price", "availability": "Stock Status",
    "availability_date": "Available From", "condition": "Condition", "brand": "Brand",
    "gtin": "EAN", "mpn": "MPN", "google_product_category": "Google Category",
    "product_type": "Category Path", "item_group_id": "Parent SKU", "color": "Colour",
    "size": "Size", "gender": "Gender", "age_group": "Age Group", "material": "Material",
    "shipping_weight": "Weight", "shipping": "Shipping", "quantity": "Stock Quantity"}
COLORS = ["Black", "White", "Red", "Blue", "Green", "Grey", "Navy", "Beige"]
SIZES = ["XS", "S", "M", "L", "XL"]
WORDS = ["soft", "organic", "cotton", "regular", "fit", "crew", "neck", "classic", "everyday",
         "durable", "light", "breathable", "premium", "stretch", "recycled", "comfortable",
         "modern", "and", "with", "for", "the"]
TAGS = ["p", "strong", "em", "li", "b"]
DEFECTS = ["bad_gtin", "no_price", "bad_link", "no_title", "bad_price", "negative_price",
           "no_image", "bad_availability"]


def generate(path: Path, count: int, seed: int = 17) -> None:
    """A seeded master of `count` products; about 1 in 50 has one defect."""
    import csv

    from stdnum import ean

    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for n in range(count):
            group = n // 5
            body = f"{rng.randrange(10**11):011d}"
            gtin = "5" + body + ean.calc_check_digit("5" + body)
            price = rng.randrange(500, 50000) / 100
            words = [rng.choice(WORDS) for _ in range(rng.randrange(15, 60))]
            tag = TAGS[n % len(TAGS)]
            cut = len(words) // 2
            description = (f"<p>{' '.join(words[:cut]).capitalize()} <{tag}>"
                           f"{' '.join(words[cut:])}</{tag}>.</p>")
            if n % 11 == 0:
                description += "<ul><li>Machine wash &amp; dry</li><li>100% cotton</li></ul>"
            stock = rng.choice(["instock", "instock", "instock", "outofstock", "onbackorder",
                                "preorder"])
            row = [
                f"SKU-{n:07d}", f"Product {group} {COLORS[n % 8]} {SIZES[n % 5]}", description,
                f"https://shop.example.com/p/{group}?v={n}",
                f"https://cdn.example.com/i/{group}.jpg",
                f"https://cdn.example.com/i/{group}-2.jpg|https://cdn.example.com/i/{group}-3.jpg",
                f"{price:.2f}", f"{price * 0.8:.2f}" if n % 7 == 0 else "", stock,
                "2027-03-01" if stock == "preorder" else "", "new", f"Brand {n % 50}", gtin,
                f"MPN-{n}", "1604", "Apparel & Accessories > Clothing > Shirts & Tops",
                f"G-{group}", COLORS[n % 8], SIZES[n % 5], "unisex", "adult", "Cotton",
                f"{rng.randrange(1, 3000) / 1000:.3f} kg", "ES::Standard:4.95 EUR",
                str(rng.randrange(0, 200))]
            if rng.randrange(50) == 0:
                _spoil(row, rng.choice(DEFECTS))
            writer.writerow(row)


def _spoil(row: list[str], defect: str) -> None:
    column = {name: i for i, name in enumerate(HEADER)}
    if defect == "bad_gtin":
        gtin = row[column["EAN"]]
        row[column["EAN"]] = gtin[:-1] + str((int(gtin[-1]) + 1) % 10)
    elif defect == "no_price":
        row[column["Regular Price"]] = ""
    elif defect == "bad_link":
        row[column["Product URL"]] = "shop.example.com/p/broken"
    elif defect == "no_title":
        row[column["Name"]] = ""
    elif defect == "bad_price":
        row[column["Regular Price"]] = "twelve"
    elif defect == "negative_price":
        row[column["Regular Price"]] = "-4.00"
    elif defect == "no_image":
        row[column["Image URL"]] = ""
    elif defect == "bad_availability":
        row[column["Stock Status"]] = "maybe"


SOURCE = {
    "path": "master.csv",
    "columns": COLUMNS,
    "defaults": {"currency": "EUR", "condition": "new", "weight_unit": "kg"},
    "values": {"availability": {"instock": "in_stock", "outofstock": "out_of_stock",
                                "onbackorder": "backorder", "preorder": "preorder"}},
}
GOOGLE = {"google": {"spec": "google_merchant", "feed": {
    "title": "Bench shop", "link": "https://shop.example.com/", "description": "Everything"},
    "output": "feeds/google.xml"}}


def write_config(work: Path, layout: str) -> Path:
    """feedsync.yaml for the master: Google only, or the all-channels example's channels."""
    import yaml

    if layout == "google":
        channels = GOOGLE
    else:
        example = REPOSITORY / "examples" / "tienda" / "feedsync.all-channels.yaml"
        channels = yaml.safe_load(example.read_text(encoding="utf-8"))["channels"]
    config = work / "feedsync.yaml"
    config.write_text(yaml.safe_dump({"source": SOURCE, "channels": channels},
                                     sort_keys=False), encoding="utf-8")
    return config


# The floor: what any feed script must at least do, read every cell and XML-escape it.
FLOOR = """
import csv, sys
from xml.sax.saxutils import escape
with open(sys.argv[1], encoding="utf-8", newline="") as src, \\
        open(sys.argv[2], "w", encoding="utf-8") as out:
    rows = csv.reader(src)
    names = [n.lower().replace(" ", "_") for n in next(rows)]
    out.write('<?xml version="1.0" encoding="UTF-8"?>\\n<rss version="2.0" '
              'xmlns:g="http://base.google.com/ns/1.0"><channel>\\n')
    for row in rows:
        out.write("<item>")
        for name, cell in zip(names, row):
            if cell:
                out.write(f"<g:{name}>{escape(cell)}</g:{name}>")
        out.write("</item>\\n")
    out.write("</channel></rss>\\n")
"""

# What a user might write instead of feedsync: no validation, no cleaning at all.
PANDAS = """
import sys
import pandas as pd
frame = pd.read_csv(sys.argv[1], dtype=str, keep_default_na=False)
frame.columns = [n.lower().replace(" ", "_") for n in frame.columns]
frame.to_xml(sys.argv[2], index=False, root_name="channel", row_name="item")
"""


@dataclass
class Figures:
    cpu: float
    wall: float
    peak_mb: float


def run_child(command: list[str], cwd: Path) -> Figures:
    """Run one child to completion; its own CPU seconds, wall seconds and peak RSS."""
    started = time.perf_counter()
    child = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode not in (0, 1):  # 1: the build found errors (the defects), as meant
        raise SystemExit(f"{command} failed with exit code {child.returncode}")
    return Figures(usage.ru_utime + usage.ru_stime, wall, usage.ru_maxrss / 1024)


def forget_state(command: list[str]) -> None:
    """Delete the state folder (`.feedsync/` beside its config) of a feedsync build command,
    so that the build is a first run."""
    import shutil

    config = Path(command[command.index("-c") + 1])
    shutil.rmtree(config.parent / ".feedsync", ignore_errors=True)


def contenders(work: Path, config: Path, jobs: list[int], only: list[str],
               baseline: str | None = None) -> dict[str, list[str]]:
    master = str(work / "master.csv")
    found: dict[str, list[str]] = {}
    for n in jobs:
        found[f"feedsync --jobs {n}"] = [sys.executable, "-m", "feedsync", "build", "-q",
                                         "-c", str(config), "--jobs", str(n)]
    if baseline:  # another install of feedsync (an earlier commit), paired with this one
        # In its own folder: its ledger and feeds must not meet this version's (a ledger
        # written by a newer feedsync is refused by an older one).
        import yaml

        settings = yaml.safe_load(config.read_text(encoding="utf-8"))
        settings["source"]["path"] = str((work / "master.csv").resolve())
        (work / "baseline").mkdir(exist_ok=True)
        baseline_config = work / "baseline" / "feedsync.yaml"
        baseline_config.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
        for n in jobs:
            found[f"feedsync baseline --jobs {n}"] = [
                baseline, "-m", "feedsync", "build", "-q", "-c", str(baseline_config),
                "--jobs", str(n)]
    found["floor (csv + escape)"] = [sys.executable, "-c", FLOOR, master, str(work / "floor.xml")]
    if importlib.util.find_spec("pandas") is None:  # not imported here: see main()
        print("pandas is not installed (pip install -e '.[benchmark]'): no pandas figures")
    else:
        found["pandas read_csv + to_xml"] = [sys.executable, "-c", PANDAS, master,
                                             str(work / "pandas.xml")]
    return {name: command for name, command in found.items()
            if not only or any(name.startswith(o) for o in only)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3, help="paired rounds (median of N)")
    parser.add_argument("--layout", choices=["google", "all-channels"], default="google")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1], help="feedsync --jobs N")
    parser.add_argument("--only", nargs="*", default=[],
                        help="contenders to run: feedsync, floor, pandas (default: all)")
    parser.add_argument("--keep", type=Path, help="Work in this folder and keep it")
    parser.add_argument("--baseline", metavar="PYTHON",
                        help="Also time the feedsync installed for this Python (e.g. the venv "
                        "of an earlier commit's checkout), in the same rotated pairs")
    parser.add_argument("--first-run", action="store_true",
                        help="Delete each feedsync's state folder (its ledger) before every "
                        "run: each is a first run. Without it only the first round is; the "
                        "others find nothing changed (the median of 3 or more is such a run)")
    parser.add_argument("--reuse", action="store_true",
                        help="With --keep: use the master already there (same --products)")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="feedsync-compare-"))
    work.mkdir(parents=True, exist_ok=True)
    master = work / "master.csv"
    started = time.perf_counter()
    # In a child: a child's peak RSS counts the memory of the process it was forked from,
    # so this one stays small (nothing generated or imported here beyond the standard library).
    reuse = args.keep is not None and master.exists() and args.reuse
    subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                    "from bench_compare import generate, write_config; from pathlib import Path; "
                    "sys.argv[5] == 'reuse' or generate(Path(sys.argv[2]), int(sys.argv[3])); "
                    "write_config(Path(sys.argv[2]).parent, sys.argv[4])",
                    str(Path(__file__).parent), str(master), str(args.products), args.layout,
                    "reuse" if reuse else "generate"],
                   check=True)
    print(f"master: {args.products:,} products, {master.stat().st_size / 2**20:.1f} MiB, "
          f"generated in {time.perf_counter() - started:.1f} s; layout {args.layout}")
    config = work / "feedsync.yaml"
    commands = contenders(work, config, args.jobs, args.only, args.baseline)
    names = list(commands)
    results: dict[str, list[Figures]] = {name: [] for name in names}
    for round_number in range(args.rounds):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:  # rotate who goes first
            if args.first_run and name.startswith("feedsync"):
                forget_state(commands[name])
            results[name].append(run_child(commands[name], work))
    median = {name: Figures(statistics.median(f.cpu for f in runs),
                            statistics.median(f.wall for f in runs),
                            max(f.peak_mb for f in runs)) for name, runs in results.items()}
    reference = next((median[n].cpu for n in names if n.startswith("feedsync")), None)
    print(f"median of {args.rounds} paired rounds, {args.products:,} products:")
    print(f"{'':28} {'CPU s':>8} {'wall s':>8} {'peak RSS':>9} {'CPU vs feedsync':>16} "
          f"{'us CPU/product':>15}")
    for name in names:
        figures = median[name]
        ratio = f"{figures.cpu / reference:.2f}" if reference else "-"
        print(f"{name:28} {figures.cpu:8.1f} {figures.wall:8.1f} {figures.peak_mb:6.0f} MB "
              f"{ratio:>16} {figures.cpu / args.products * 1e6:15.1f}")
    floor = next((median[n].cpu for n in names if n.startswith("floor")), None)
    if floor:
        for name in names:
            if name.startswith("feedsync"):
                print(f"{name}: {median[name].cpu / floor:.1f}x the floor's CPU")
    if not args.keep:
        import shutil

        shutil.rmtree(work)


if __name__ == "__main__":
    main()

"""Plan and delta-push benchmark: a catalog already in the ledger, 1% of products changed.

    python benchmarks/bench_plan.py [--products 1000000] [--changed 0.01] [--keep DIR]

1. generate a seeded master (bench_build's generator; not timed);
2. `feedsync build` (timed): writes the Google XML and records every item in the ledger;
   the same rows are then copied, in SQL, to the Merchant API destination, as if a full
   push had confirmed them (a 1,000,000-item push to a Python fake would only time the
   fake);
3. change the price of `--changed` of the products;
4. `feedsync plan` (timed; peak RSS);
5. `feedsync push` to the local fake Merchant API (tests/publish/servers.py; timed, peak
   RSS), counting the items the fake received: the changed ones, not the catalog.

Each feedsync command runs as its own process, so its peak RSS is its own. Prints figures;
exits 1 when the push sent anything but the changed items.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_build import CONFIG, generate

PUSH = """
import sys
from google.oauth2 import service_account
service_account.Credentials._is_regional_access_boundary_lookup_required = lambda self: False
from feedsync.cli.app import main
sys.argv = ["feedsync", *sys.argv[1:]]
main()
"""


def run(args: list[str]) -> tuple[float, float, int]:
    """Run `feedsync ARGS` in its own process: (seconds, peak RSS MiB, exit code)."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", PUSH, *args])
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    return elapsed, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def change_prices(master: Path, share: float) -> int:
    """Raise the price of every 1/share-th product by 1.00; returns how many."""
    step = round(1 / share)
    changed = 0
    tmp = master.with_suffix(".tmp")
    with master.open(encoding="utf-8", newline="") as src, \
            tmp.open("w", encoding="utf-8", newline="") as dst:
        reader, writer = csv.reader(src), csv.writer(dst)
        header = next(reader)
        writer.writerow(header)
        price = header.index("price")
        for n, row in enumerate(reader):
            if n % step == 0:
                row[price] = f"{float(row[price]) + 1:.2f}"
                changed += 1
            writer.writerow(row)
    tmp.replace(master)
    return changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=1_000_000)
    parser.add_argument("--changed", type=float, default=0.01)
    parser.add_argument("--keep", type=Path, help="Work in this folder and keep it")
    args = parser.parse_args()
    from tests.publish.servers import start_merchant_api

    work = args.keep or Path(tempfile.mkdtemp(prefix="feedsync-bench-plan-"))
    work.mkdir(parents=True, exist_ok=True)
    master = work / "master.csv"
    started = time.perf_counter()
    generate(master, args.products)
    print(f"generated {args.products:,} products ({master.stat().st_size / 2**20:.1f} MiB) "
          f"in {time.perf_counter() - started:.1f} s", flush=True)
    with start_merchant_api(work) as (base, account_file, state):
        config = work / "feedsync.yaml"
        config.write_text(CONFIG.replace("outputs: [feeds/google.xml, feeds/google.tsv]",
                                         "outputs: [feeds/google.xml]\n    publish: google")
                          + f"""publish:
  google:
    url: google-merchant://123456
    data_source: "987"
    content_language: en
    feed_label: ES
    credentials: {account_file}
    base_url: {base}
    batch_size: 1000
    max_drop: 1
""")
        seconds, rss, code = run(["build", "-q", "-c", str(config)])
        assert code == 0, f"build exited {code}"
        print(f"build: {args.products:,} products -> Google XML + ledger in {seconds:.1f} s "
              f"({args.products / seconds:,.0f} products/s); peak RSS {rss:.0f} MiB",
              flush=True)
        ledger = work / ".feedsync" / "ledger.db"
        with sqlite3.connect(ledger) as db:
            now = int(time.time())
            db.execute("INSERT INTO items SELECT feed, 'google', item_id, hash, sent_at, "
                       "confirmed_at, ? , 0 FROM items WHERE destination = 'file'",
                       (now + 30 * 86_400,))
        db.close()
        size = sum(p.stat().st_size for p in ledger.parent.glob("ledger.db*"))
        print(f"ledger: {2 * args.products:,} rows (file + google), {size / 2**20:.0f} MiB",
              flush=True)

        changed = change_prices(master, args.changed)
        seconds, rss, code = run(["plan", "-q", "-c", str(config), "--out",
                                  str(work / "plan.json")])
        assert code == 0, f"plan exited {code}"
        print(f"plan: {args.products:,} products, {changed:,} changed, in {seconds:.1f} s "
              f"({args.products / seconds:,.0f} products/s); peak RSS {rss:.0f} MiB",
              flush=True)

        seconds, rss, code = run(["push", "-q", "-c", str(config)])
        sent = sum(1 for method, _ in state.received if method == "insert")
        deletes = sum(1 for method, _ in state.received if method == "delete")
        print(f"push: exit {code} in {seconds:.1f} s; peak RSS {rss:.0f} MiB; the fake "
              f"received {sent:,} items and {deletes:,} deletes (expected {changed:,} and 0)",
              flush=True)
        size = sum(p.stat().st_size for p in ledger.parent.glob("ledger.db*"))
        print(f"ledger after the push: {size / 2**20:.0f} MiB")
    if not args.keep:
        shutil.rmtree(work)
    if code != 0 or sent != changed or deletes:
        sys.exit(1)


if __name__ == "__main__":
    main()

"""Sync benchmark: a catalog already in the ledger, its stock in a SQLite table, 1% of the
quantities changed.

    python benchmarks/bench_sync.py [--products 1000000] [--changed 0.01] [--keep DIR]

1. generate a seeded master (bench_build's generator) and a SQLite stock table (sku,
   quantity) joined to it on the id (not timed);
2. `feedsync build` (timed): writes the Meta catalog CSV and records every item in the
   ledger; the same rows are then copied, in SQL, to the Meta API destination, as if a
   full push had confirmed them, and the fake Graph API is told it holds the items that
   will change (a sync never creates items, so the fake refuses unknown ones);
3. a first `feedsync sync` (timed): nothing changed, so nothing is sent; it reads the
   whole master and leaves the stock snapshot the next sync compares with;
4. change `--changed` of the quantities in the stock table;
5. `feedsync sync` to the local fake Graph API (tests/publish/servers.py; timed, peak
   RSS): the master is unchanged, so only the products whose stock rows changed are
   re-read; counts the partial updates the fake received: the changed items, nothing
   else.

Prints figures; exits 1 when the sync sent anything but the changed items.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_build import CONFIG, generate
from benchmarks.bench_plan import run

TOKEN = "EAAB-bench-token-0123456789"


def stock_table(path: Path, products: int) -> None:
    """sku -> quantity, as a shop's stock database would hold it."""
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE stock (sku TEXT PRIMARY KEY, qty INTEGER NOT NULL)")
        db.executemany("INSERT INTO stock VALUES (?, ?)",
                       ((f"SKU-{n:07d}", 1 + n % 40) for n in range(products)))


def change_quantities(path: Path, share: float) -> list[str]:
    """Add 1 to every 1/share-th quantity (a delivery arrived); returns their skus."""
    step = round(1 / share)
    with sqlite3.connect(path) as db:
        skus = [r[0] for r in db.execute("SELECT sku FROM stock WHERE rowid % ? = 1",
                                         (step,))]
        db.executemany("UPDATE stock SET qty = qty + 1 WHERE sku = ?", ((s,) for s in skus))
    return skus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=1_000_000)
    parser.add_argument("--changed", type=float, default=0.01)
    parser.add_argument("--keep", type=Path, help="Work in this folder and keep it")
    args = parser.parse_args()
    from tests.publish.servers import start_graph_api

    work = args.keep or Path(tempfile.mkdtemp(prefix="feedsync-bench-sync-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    generate(work / "master.csv", args.products)
    stock_table(work / "stock.db", args.products)
    print(f"generated {args.products:,} products and their stock table in "
          f"{time.perf_counter() - started:.1f} s", flush=True)
    with start_graph_api(TOKEN) as (base, state):
        config = work / "feedsync.yaml"
        config.write_text(
            CONFIG.replace("  defaults:", "    quantity: qty\n  join:\n"
                           "    - {url: sqlite:///stock.db, table: stock, key: sku}\n"
                           "  defaults:")
            .replace("spec: google_merchant", "spec: meta_catalog")
            .replace("outputs: [feeds/google.xml, feeds/google.tsv]",
                     "outputs: [feeds/meta.csv]\n    publish: meta")
            + f"""publish:
  meta:
    url: meta-catalog://{state.catalog}
    token: {TOKEN}
    base_url: {base}
    batch_size: 5000
    poll_interval: 0.01
""")
        seconds, rss, code = run(["build", "-q", "-c", str(config)])
        assert code == 0, f"build exited {code}"
        print(f"build: {args.products:,} products -> Meta CSV + ledger in {seconds:.1f} s; "
              f"peak RSS {rss:.0f} MiB", flush=True)
        ledger = work / ".feedsync" / "ledger.db"
        with sqlite3.connect(ledger) as db:
            db.execute("INSERT INTO items SELECT feed, 'meta', item_id, hash, sent_at, "
                       "confirmed_at, NULL, 0 FROM items WHERE destination = 'file'")
        db.close()
        size = sum(p.stat().st_size for p in ledger.parent.glob("ledger.db*"))
        print(f"ledger: {2 * args.products:,} rows (file + meta), {size / 2**20:.0f} MiB",
              flush=True)

        seconds, rss, code = run(["sync", "-q", "-c", str(config)])
        assert code == 0 and not state.received, f"first sync exited {code}"
        print(f"first sync (whole master read, nothing to send): {seconds:.1f} s; peak RSS "
              f"{rss:.0f} MiB", flush=True)
        skus = change_quantities(work / "stock.db", args.changed)
        state.items.update({sku: {"id": sku} for sku in skus})
        seconds, rss, code = run(["sync", "-q", "-c", str(config)])
        updates = [r for r in state.received if r[0] == "UPDATE"]
        others = len(state.received) - len(updates)
        right = {i for _, i in updates} == set(skus) and len(updates) == len(skus)
        print(f"sync: exit {code} in {seconds:.1f} s; peak RSS {rss:.0f} MiB; the fake "
              f"received {len(updates):,} partial updates (expected {len(skus):,}, "
              f"{'exactly those' if right else 'NOT those'}) and {others:,} other requests; "
              f"fields sent: {sorted(state.partial_updates[0]) if updates else '-'}",
              flush=True)
    if not args.keep:
        shutil.rmtree(work)
    if code != 0 or not right or others:
        sys.exit(1)


if __name__ == "__main__":
    main()

"""Publish building blocks: reading the typed item spool, mapping items for the APIs,
encoding Merchant API batches, and a local atomic publish. Prints figures; asserts nothing.

    python benchmarks/publish.py [ITEMS]      (default 20,000 items)
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
import tracemalloc
from decimal import Decimal
from pathlib import Path

from feedsync.channels.loader import load_spec
from feedsync.config import FeedInfo, PublishConfig
from feedsync.products.product import Measure, Money, Shipping
from feedsync.publish.base import Upload
from feedsync.publish.google_api import encode_batch, product_input
from feedsync.publish.items import ItemSpool, read_spool
from feedsync.publish.local import LocalDestination
from feedsync.publish.meta_api import meta_item
from feedsync.publish.retry import RetryPolicy
from feedsync.writers import open_writer

ITEM = {
    "id": "", "title": "Camiseta básica de algodón orgánico Blanco S",
    "description": "Camiseta de manga corta en algodón orgánico 100%, corte regular. " * 3,
    "link": "https://tienda.example.es/p/cam-bas?talla=S&color=bla",
    "image_link": "https://cdn.tienda.example.es/img/cam-bas-bla.jpg",
    "additional_image_link": ["https://cdn.tienda.example.es/img/cam-bas-bla-2.jpg",
                              "https://cdn.tienda.example.es/img/cam-bas-detalle.jpg"],
    "availability": "in_stock", "price": "19.95 EUR", "sale_price": "14.95 EUR",
    "condition": "new", "brand": "Algodonera", "gtin": "4006381333931",
    "google_product_category": "212", "product_type": "Ropa > Camisetas",
    "item_group_id": "CAM-BAS", "color": "Blanco", "size": "S", "gender": "unisex",
    "age_group": "adult", "shipping_weight": "0.2 kg",
    "shipping": [{"country": "ES", "service": "Estándar", "price": "3.95 EUR"}],
}

# The same item as the build spools it for API destinations: typed values.
TYPED = {**ITEM, "price": Money(Decimal("19.95"), "EUR"),
         "sale_price": Money(Decimal("14.95"), "EUR"),
         "shipping_weight": Measure(Decimal("0.2"), "kg"),
         "shipping": [Shipping("ES", Money(Decimal("3.95"), "EUR"), service="Estándar")]}


def timed(label: str, count: int, unit: str, func) -> object:  # type: ignore[no-untyped-def]
    """Rate without tracing; then the peak of Python allocations in a second, traced run
    (lxml's own C memory is not traced: see the process's max RSS at the end)."""
    started = time.perf_counter()
    result = func()
    elapsed = time.perf_counter() - started
    tracemalloc.start()
    func()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"{label:<42} {count / elapsed:>10,.0f} {unit}/s  {elapsed:6.2f} s  "
          f"python peak {peak / 2**20:5.1f} MiB")
    return result


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    spec = load_spec("google_merchant", None)
    fmt = spec.formats["xml"]
    with tempfile.TemporaryDirectory() as tmp:
        feed = Path(tmp) / "feed.xml"
        writer = open_writer(feed, spec, fmt, FeedInfo())
        for i in range(n):
            writer.write({**ITEM, "id": f"SKU-{i:07d}"})
        writer.commit()
        size = feed.stat().st_size
        print(f"{n:,} items, {size / 2**20:.1f} MiB of RSS")

        spool_path = Path(tmp) / "items.jsonl"
        spool = ItemSpool(spool_path)
        for i in range(n):
            spool.write({**TYPED, "id": f"SKU-{i:07d}"})
        spool.commit()
        timed("read the typed item spool", n, "items",
              lambda: sum(1 for _ in read_spool(spool_path)))
        timed("read + map to Merchant API ProductInput", n, "items",
              lambda: sum(1 for i in read_spool(spool_path) if product_input(i, "es", "ES")))
        timed("read + map to Meta items_batch data", n, "items",
              lambda: sum(1 for i in read_spool(spool_path) if meta_item(i)))
        bodies = [product_input({**ITEM, "id": f"SKU-{i}"}, "es", "ES") for i in range(1000)]
        timed("encode multipart batches of 100", 1000, "requests", lambda: [
            encode_batch({f"insert-{j}": ("POST", "/products/v1/accounts/1/productInputs:insert"
                                          "?dataSource=x", b) for j, b in
                          enumerate(bodies[k:k + 100])}, "batch_x")
            for k in range(0, 1000, 100)])
        destination = LocalDestination("bench", PublishConfig(url="out/"), Path(tmp) / "out")
        upload = Upload("bench", feed, "feed.xml", "application/xml", n, "", size)
        timed("local atomic publish (copy+fsync+rename)", size // 2**20 or 1, "MiB",
              lambda: destination.publish(upload, RetryPolicy(attempts=1)))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"max RSS of the whole run: {rss:.0f} MiB")


if __name__ == "__main__":
    main()

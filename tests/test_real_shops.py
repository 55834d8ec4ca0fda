"""Real shop exports (../shared/reference) build with what each channel would reject named
per channel, and a problem for one channel never removes a product from another."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from feedsync.api import run_build
from feedsync.config import load_config

MAGENTO = """\
source:
  path: {reference}/masters/magento2/configurable_products.csv
  preset: magento2
  shop_url: https://luma.example.com
  defaults: {{currency: USD, condition: new}}
channels:
  google: {{spec: google_merchant, output: feeds/google.xml}}
  ebay: {{spec: ebay_inventory, output: feeds/ebay.jsonl}}
  pinterest: {{spec: pinterest_catalog, output: feeds/pinterest.csv}}
"""


def _build(tmp_path: Path, text: str) -> tuple[dict[str, tuple[int, int]], Counter[tuple]]:
    config = tmp_path / "feedsync.yaml"
    config.write_text(text, encoding="utf-8")
    report = run_build(load_config(config))
    counts = {name: (c.items, c.excluded) for name, c in report.channels.items()}
    return counts, Counter((i.code, i.channel, i.field) for i in report.issues)


def test_magento_export_flags_missing_brands_for_google_and_keeps_ebay_items(
        tmp_path: Path, reference: Path) -> None:
    counts, issues = _build(tmp_path, MAGENTO.format(reference=reference))
    # Google disapproves new products without a brand: all 1,847 are left out of Google,
    # each with an error naming the field, and nowhere else.
    assert counts["google"] == (0, 1847)
    assert issues[("missing-required", "google", "brand")] == 1847
    # An eBay aspect over 50 characters drops the aspect, not the item (60 materials).
    assert counts["ebay"] == (1847, 0)
    assert issues[("value-dropped", "ebay", "material")] == 60
    assert counts["pinterest"] == (1847, 0)
    assert issues[("empty-feed", "google", None)] == 1


def test_real_world_google_feed_debris_and_thousands_separators_are_reported(
        tmp_path: Path, reference: Path) -> None:
    feed = reference / "feeds" / "real-world" / "techsaver_hr_google_rss_feed.xml"
    _, issues = _build(tmp_path, f"source: {{path: {feed}}}\nchannels:\n"
                                 "  google: {spec: google_merchant, output: g.xml}\n")
    assert issues[("entity-debris", None, "title")] >= 1
    assert issues[("thousands-separator", None, "price")] >= 1000  # "1,075.00 HRK"
    assert issues[("missing-required", "google", "brand")] >= 1  # the empty brands

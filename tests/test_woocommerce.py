"""WooCommerce's real sample export builds a Google feed with examples/woocommerce."""

import shutil
from pathlib import Path

import pytest
from lxml import etree

from feedsync.api import run_build
from feedsync.config import load_config
from feedsync.errors import ConfigError
from tests.conftest import EXAMPLES

G = "{http://base.google.com/ns/1.0}"


def test_woocommerce_export_builds_a_google_feed(tmp_path: Path, reference: Path, monkeypatch):
    config_path = tmp_path / "feedsync.yaml"
    shutil.copyfile(EXAMPLES / "woocommerce" / "feedsync.yaml", config_path)
    monkeypatch.setenv("FEEDSYNC_WOO_EXPORT",
                       str(reference / "masters" / "woocommerce" / "sample_products.csv"))
    report = run_build(load_config(config_path))
    channel = report.channels["google_us"]
    assert (report.rows, channel.items, channel.excluded) == (25, 22, 3)
    # The three left out are the variable and grouped parents, which have no price.
    left_out = {i.product_id for i in report.issues if i.channel == "google_us" and i.is_error}
    assert left_out == {"woo-vneck-tee", "woo-hoodie", "logo-collection"}
    root = etree.parse(str(tmp_path / "feeds" / "google_us.xml")).getroot()
    items = {i.findtext(f"{G}id"): i for i in root.iter("item")}
    beanie = items["woo-beanie"]
    assert beanie.findtext(f"{G}price") == "20.00 USD"
    assert beanie.findtext(f"{G}sale_price") == "18.00 USD"
    assert beanie.findtext(f"{G}link") == (
        "https://woocommercecore.mystagingwebsite.com/?post_type=product&p=48")
    red_tee = items["woo-vneck-tee-red"]
    assert red_tee.findtext(f"{G}item_group_id") == "woo-vneck-tee"
    assert len(items["woo-vneck-tee-red"].findall(f"{G}additional_image_link")) == 0
    assert len(items["woo-hoodie-with-logo"].findall(f"{G}image_link")) == 1


def test_column_templates_reject_unknown_columns(tmp_path: Path):
    from tests.helpers import write_config

    config = write_config(tmp_path, "utf8_bom.csv", source_extra={
        "columns": {"link": "https://x.example.com/p/{{ NoSuchColumn }}"}})
    with pytest.raises(ConfigError, match="has no column 'NoSuchColumn'"):
        run_build(load_config(config))

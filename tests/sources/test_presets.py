"""Shop export presets, against the real exports in ../shared/reference/masters/."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from feedsync.api import run_build
from feedsync.errors import ConfigError
from tests.sources.helpers import render_items, write_config

SHOP = "https://shop.example.com"


def _config(tmp_path: Path, path: Path, preset: str, **extra: object):
    source = {"path": str(path), "preset": preset, "shop_url": SHOP,
              "defaults": {"currency": "USD"}, **extra}
    return write_config(tmp_path / "feedsync.yaml", {
        "source": source,
        "channels": {"google": {"spec": "google_merchant", "output": "google.xml"}}})


def test_shopify_variants_images_and_status(reference: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, reference / "masters/shopify/product_template.csv", "shopify")
    items, issues = render_items(config)
    # example-pants is a draft and example-hat archived: only the shirt's 12 variants list.
    assert len(items) == 12 and {i["item_group_id"] for i in items} == {"example-shirt"}
    first = items[0]
    assert first["id"] == "SRT_COT_111" and first["title"] == "Example T-Shirt"
    assert (first["color"], first["size"]) == ("Green", "S")
    assert first["link"] == f"{SHOP}/products/example-shirt"
    assert first["image_link"] == "https://burst.shopifycdn.com/photos/green-t-shirt.jpg?width=1500"
    # The image-only rows' pictures are the product's gallery.
    assert len(first["additional_image_link"]) == 5
    assert first["brand"] == "Acme" and first["shipping_weight"] == "145 g"
    assert first["description"].startswith("This t-shirt is as simple")  # HTML removed
    # Parent fields reach the variants that leave them empty.
    assert all(i["gender"] == "male" and i["brand"] == "Acme" for i in items)
    codes = Counter(i.code for i in issues if i.severity.value != "info")
    assert codes == {"barcode-not-gtin": 10}  # the template's barcodes are made up
    assert run_build(config).products == 12
    assert (tmp_path / "google.xml").stat().st_size > 0


def test_shopify_compare_at_price_becomes_the_sale(tmp_path: Path) -> None:
    export = tmp_path / "shopify.csv"
    export.write_text(
        "Handle,Title,Body (HTML),Vendor,Type,Published,Option1 Name,Option1 Value,"
        "Variant SKU,Variant Price,Variant Compare At Price,Variant Inventory Tracker,"
        "Variant Inventory Qty,Image Src,Status\n"
        "mug,Mug,<p>A mug</p>,Acme,Mugs,TRUE,Title,Default Title,MUG-1,8.00,10.00,shopify,0,"
        "https://img.example/mug.jpg,active\n")
    [item], _ = render_items(_config(tmp_path, export, "shopify"))
    assert (item["price"], item["sale_price"]) == ("10.00 USD", "8.00 USD")
    assert item["availability"] == "out_of_stock"  # tracked, none left, policy deny
    assert "item_group_id" not in item and "color" not in item


def test_woocommerce_variations_and_attributes(reference: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, reference / "masters/woocommerce/sample_products.csv",
                     "woocommerce")
    items, issues = render_items(config)
    by_id = {i["id"]: i for i in items}
    assert "woo-hoodie" not in by_id  # a variable parent is not a product
    assert "woo-logo-collection" not in by_id  # grouped: a container
    variation = by_id["woo-hoodie-blue-logo"]
    assert variation["item_group_id"] == "woo-hoodie"
    assert variation["color"] == "Blue"
    assert variation["product_type"] == "Clothing > Hoodies"  # inherited from the parent
    # This variation is red in any size: the parent's list of sizes is not inherited.
    assert by_id["woo-vneck-tee-red"]["color"] == "Red"
    assert "size" not in by_id["woo-vneck-tee-red"]
    assert variation["link"] == f"{SHOP}/?p=45"  # the parent's page
    assert by_id["woo-hoodie-with-logo"]["shipping_weight"] == "2 lb"
    assert not [i for i in issues if i.is_error]
    assert len(items) == 22
    assert run_build(config).products == 22
    assert (tmp_path / "google.xml").read_text().count("<item>") == 22


def test_magento2_configurable_parents_and_children(reference: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, reference / "masters/magento2/configurable_products.csv",
                     "magento2")
    items, issues = render_items(config)
    by_id = {i["id"]: i for i in items}
    assert "MH01" not in by_id and "WSH12" not in by_id  # configurable parents
    child = by_id["MH01-XS-Black"]
    assert child["item_group_id"] == "MH01"
    assert (child["color"], child["size"]) == ("Black", "XS")
    assert child["link"] == f"{SHOP}/chaz-kangeroo-hoodie.html"  # the parent's page
    assert child["image_link"] == f"{SHOP}/media/catalog/product/m/h/mh01-black_main.jpg"
    assert child["product_type"] == "Men > Tops > Hoodies & Sweatshirts"
    assert "<p>" not in child["description"]
    assert child["material"] == "Wool"  # from the parent's additional_attributes
    assert by_id["MJ01-XS-Orange"]["title"].startswith("Beaumont Summit Kit")
    assert any("™" in i["title"] for i in items)  # &trade; in names decoded
    assert not [i for i in issues if i.is_error]
    assert len(items) > 1500
    assert run_build(config).products == len(items)
    assert (tmp_path / "google.xml").read_text().count("<item>") == len(items)


def test_meta_catalog_csv_builds_a_google_feed(reference: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path / "feedsync.yaml", {"source": {
        "path": str(reference / "feeds/meta/dpa_product_catalog_sample_feed.csv"),
        "preset": "meta"}, "channels": {}})
    items, issues = render_items(config)
    assert len(items) == 60 and not [i for i in issues if i.is_error]
    assert items[0]["price"] == "9.99 GBP"


def test_preset_on_the_wrong_export(reference: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, reference / "masters/shopify/product_template.csv", "magento2")
    from feedsync.sources import open_source

    with pytest.raises(ConfigError, match="is not a magento2 export"):
        open_source(config)


def test_preset_needs_the_shop_url(reference: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path / "feedsync.yaml", {"source": {
        "path": str(reference / "masters/shopify/product_template.csv"), "preset": "shopify"},
        "channels": {}})
    from feedsync.sources import open_source

    with pytest.raises(ConfigError, match=r"set source\.shop_url"):
        open_source(config)

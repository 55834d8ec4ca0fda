"""The Klaviyo custom catalog channel: Klaviyo's required fields, its https rule, the flat
JSON items Klaviyo reads, and the example shop's feed."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from feedsync.api import run_build
from feedsync.channels.loader import load_spec
from feedsync.channels.render import ChannelRenderer
from feedsync.config import load_config
from feedsync.products.product import Money
from tests.channel_helpers import kitchen_sink, run_context

KLAVIYO_KEYS = {"id", "title", "link", "description", "price", "image_link", "categories",
                "inventory_quantity", "inventory_policy"}


def _render(**changes: Any) -> tuple[dict | None, list]:
    spec = load_spec("klaviyo_catalog")
    renderer = ChannelRenderer(spec, "klaviyo", context=run_context(spec))
    return renderer.render(kitchen_sink(**changes))


def test_a_complete_product_goes_in_with_klaviyos_fields() -> None:
    item, issues = _render(custom_label_0="best-seller",
                           price=Money(Decimal("19.90"), "EUR"))
    assert issues == []
    assert item is not None
    assert item["price"] == Decimal("19.90")
    assert item["categories"] == ["Ropa > Camisetas", "best-seller"]
    assert (item["inventory_quantity"], item["inventory_policy"]) == (12, 1)


@pytest.mark.parametrize("field", ["title", "link", "description", "price", "image_link"])
def test_a_product_missing_a_required_field_is_left_out(field: str) -> None:
    item, issues = _render(**{field: None})
    assert item is None
    assert [(i.code, i.field, i.channel) for i in issues] == [
        ("missing-required", field, "klaviyo")]


@pytest.mark.parametrize(("field", "value"), [
    ("link", "http://tienda.example.es/p/ks-001"),
    ("image_link", "http://cdn.tienda.example.es/img/ks-001.jpg"),
])
def test_a_plain_http_address_is_left_out_as_https_required(field: str, value: str) -> None:
    item, issues = _render(**{field: value})
    assert item is None
    assert [(i.code, i.channel) for i in issues] == [("https-required", "klaviyo")]
    assert field in issues[0].message


def test_https_in_capitals_is_https() -> None:
    item, issues = _render(link="HTTPS://tienda.example.es/p/ks-001")
    assert item is not None, issues


def test_no_inventory_policy_without_a_quantity() -> None:
    # Policy 1 with no quantity would hide the product from Klaviyo's recommendations.
    item, _ = _render(quantity=None)
    assert item is not None
    assert "inventory_quantity" not in item and "inventory_policy" not in item


def test_an_out_of_stock_product_keeps_its_zero_and_policy() -> None:
    # Zero stock is when the policy matters: 0 is a quantity, not a missing value.
    item, _ = _render(quantity=0, availability="out_of_stock")
    assert item is not None
    assert (item["inventory_quantity"], item["inventory_policy"]) == (0, 1)


def test_example_shop_feed_is_a_flat_json_array_klaviyo_reads(tienda: Path) -> None:
    config = tienda.parent / "feedsync.all-channels.yaml"
    report = run_build(load_config(config), ["klaviyo"])
    items = json.loads((tienda.parent / "feeds" / "klaviyo.json").read_text(encoding="utf-8"))
    assert isinstance(items, list)
    assert len(items) == report.channels["klaviyo"].items > 0
    for item in items:
        assert set(item) <= KLAVIYO_KEYS  # the https check fields stay out of the feed
        assert {"id", "title", "link", "description", "price", "image_link"} <= set(item)
        assert item["link"].startswith("https://")
        assert isinstance(item["price"], (int, float))
        # One node deep: only categories is a list, and only of strings.
        assert all(not isinstance(v, (dict, list)) for k, v in item.items()
                   if k != "categories")
        assert all(isinstance(c, str) for c in item.get("categories", []))


def test_an_http_link_leaves_the_product_out_of_klaviyo_only(tienda: Path) -> None:
    master = tienda.parent / "productos.csv"
    text = master.read_text(encoding="utf-8-sig")
    master.write_text(text.replace("https://tienda.example.es/p/cam-bas?talla=S&color=bla",
                                   "http://tienda.example.es/p/cam-bas?talla=S&color=bla"),
                      encoding="utf-8")
    report = run_build(load_config(tienda.parent / "feedsync.all-channels.yaml"),
                       ["klaviyo", "google"])
    ids = {i["id"] for i in json.loads(
        (tienda.parent / "feeds" / "klaviyo.json").read_text(encoding="utf-8"))}
    assert "CAM-BAS-BLA-S" not in ids
    assert "CAM-BAS-BLA-S" in (tienda.parent / "feeds" / "google_ES.xml").read_text("utf-8")
    https = [i for i in report.issues if i.code == "https-required"]
    assert [(i.product_id, i.channel) for i in https] == [("CAM-BAS-BLA-S", "klaviyo")]

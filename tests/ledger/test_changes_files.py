"""Changes-only files from the ledger: Amazon JSON_LISTINGS_FEED deltas (UPDATE for new
items, PATCH for changed attributes, DELETE for removed ones, still valid against Amazon's
listings feed schema v2) and Meta "changes only" supplemental files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from feedsync.api import load_project
from tests.ledger.helpers import remove_products, set_prices

ALL_CHANNELS = "feedsync.all-channels.yaml"


def _project(tienda: Path, channels: dict[str, str]) -> Path:
    config = tienda.parent / ALL_CHANNELS
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["channels"] = {name: {**data["channels"][name], "changes_only": path}
                        for name, path in channels.items()}
    config.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
                      encoding="utf-8")
    return config


def test_amazon_delta_patches_changed_prices_and_deletes_removed(tienda, reference):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((reference / "amazon" / "listings-feed-schema-v2.json").read_text())
    config = _project(tienda, {"amazon_listings": "feeds/amazon.changes.json"})
    delta = tienda.parent / "feeds" / "amazon.changes.json"
    load_project(config).build()
    first = json.loads(delta.read_text())
    jsonschema.validate(first, schema)
    assert {m["operationType"] for m in first["messages"]} == {"UPDATE"}  # all new
    assert len(first["messages"]) == 12  # the example's electronics, Amazon's products

    set_prices(config, {"AUR-BT-500": "79,00", "ALT-MINI": "42,99"})
    remove_products(config, {"CARG-65W"})
    report = load_project(config).build()
    document = json.loads(delta.read_text())
    jsonschema.validate(document, schema)
    assert document["header"]["sellerId"] == "A1TIENDAEJEMPLO"
    by_sku = {m["sku"]: m for m in document["messages"]}
    assert set(by_sku) == {"AUR-BT-500", "ALT-MINI", "CARG-65W"}
    patch = by_sku["AUR-BT-500"]
    assert patch["operationType"] == "PATCH" and patch["productType"] == "PRODUCT"
    assert [p["path"] for p in patch["patches"]] == ["/attributes/purchasable_offer"]
    assert patch["patches"][0]["op"] == "replace"
    assert patch["patches"][0]["value"][0]["our_price"][0]["schedule"][0][
        "value_with_tax"] == 79
    assert by_sku["CARG-65W"] == {"messageId": 3, "sku": "CARG-65W",
                                  "operationType": "DELETE"}
    assert [m["messageId"] for m in document["messages"]] == [1, 2, 3]
    assert any("changes only: 2 items, 1 deletes" in o.path
               for o in report.channels["amazon_listings"].outputs)


def test_meta_changes_only_file_holds_only_the_changed_items(tienda):
    config = _project(tienda, {"meta": "feeds/meta_{country}.changes.csv"})
    load_project(config).build()
    set_prices(config, {"CAM-BAS-BLA-S": "18,95"})
    load_project(config).build()
    feeds = tienda.parent / "feeds"
    full = list(csv.DictReader((feeds / "meta_ES.csv").open(encoding="utf-8")))
    changes = list(csv.DictReader((feeds / "meta_ES.changes.csv").open(encoding="utf-8")))
    assert [row["id"] for row in changes] == ["CAM-BAS-BLA-S"]
    assert changes[0] == next(r for r in full if r["id"] == "CAM-BAS-BLA-S")
    assert changes[0]["price"] == "18.95 EUR"
    assert [r["id"] for r in csv.DictReader(
        (feeds / "meta_MX.changes.csv").open(encoding="utf-8"))] == ["CAM-BAS-BLA-S"]


def test_amazon_delta_without_changes_leaves_no_file(tienda):
    config = _project(tienda, {"amazon_listings": "feeds/amazon.changes.json"})
    load_project(config).build()
    delta = tienda.parent / "feeds" / "amazon.changes.json"
    assert delta.exists()
    load_project(config).build()
    assert not delta.exists()  # nothing changed: an old delta must not be sent twice

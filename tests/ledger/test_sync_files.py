"""`feedsync sync` for file channels: overrides since the last build, written atomically.

Amazon gets a JSON_LISTINGS_FEED of PATCH messages (only purchasable_offer and
fulfillment_availability; valid against Amazon's listings feed schema v2), eBay
bulkUpdatePriceQuantity bodies, any other channel a Google supplemental feed (id + the
synced attributes)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from feedsync.api import load_project
from tests.ledger.helpers import _rows, _write

ALL_CHANNELS = "feedsync.all-channels.yaml"
SKUS = ["CAM-BAS-BLA-S", "CAM-BAS-BLA-M", "CAM-BAS-BLA-L"]


def _project(tienda: Path, channels: dict[str, str]) -> Path:
    config = tienda.parent / ALL_CHANNELS
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["channels"] = {name: {**data["channels"][name], "sync_output": path}
                        for name, path in channels.items()}
    config.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
                      encoding="utf-8")
    return config


def set_column(config: Path, column_name: str, values: dict[str, str]) -> None:
    header, rows = _rows(config)
    column = header.split(";").index(column_name)
    for row in rows:
        if row[0] in values:
            row[column] = values[row[0]]
    _write(config, header, rows)


ELECTRONICS = ["AUR-BT-500", "ALT-MINI", "CARG-65W"]  # products the Amazon feed holds


def test_amazon_and_ebay_get_quantity_patches_only(tienda, reference):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((reference / "amazon" / "listings-feed-schema-v2.json").read_text())
    config = _project(tienda, {"amazon_listings": "feeds/amazon.sync.json",
                               "ebay": "feeds/ebay.sync.json"})
    load_project(config).build()
    assert load_project(config).sync().exit_code == 0  # nothing changed: no Amazon file
    assert not (tienda.parent / "feeds" / "amazon.sync.json").exists()
    set_column(config, "Cantidad", dict.fromkeys(ELECTRONICS, "2"))
    report = load_project(config).sync()
    assert report.exit_code == 0
    amazon = json.loads((tienda.parent / "feeds" / "amazon.sync.json").read_text())
    jsonschema.validate(amazon, schema)
    assert amazon["header"]["sellerId"] == "A1TIENDAEJEMPLO"
    assert sorted(m["sku"] for m in amazon["messages"]) == sorted(ELECTRONICS)
    for message in amazon["messages"]:
        assert message["operationType"] == "PATCH"
        paths = [p["path"] for p in message["patches"]]
        assert paths == ["/attributes/purchasable_offer",
                         "/attributes/fulfillment_availability"]
        assert message["patches"][1]["value"][0]["quantity"] == 2
    ebay = json.loads((tienda.parent / "feeds" / "ebay.sync.json").read_text())
    assert ebay == [{"requests": [{"sku": sku, "shipToLocationAvailability": {"quantity": 2}}
                                  for sku in sorted(ELECTRONICS)]}]


def test_google_supplemental_feed_lists_overrides_until_the_next_build(tienda):
    config = _project(tienda, {"google": "feeds/google_{country}.supplemental.tsv"})
    load_project(config).build()
    set_column(config, "Stock", dict.fromkeys(SKUS, "Agotado"))
    report = load_project(config).sync()
    assert report.exit_code == 0
    path = tienda.parent / "feeds" / "google_ES.supplemental.tsv"
    with path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert [r["id"] for r in rows] == sorted(SKUS)
    assert list(rows[0]) == ["id", "price", "availability"]
    assert {r["availability"] for r in rows} == {"out_of_stock"}
    load_project(config).build()  # the full feed now says so: no overrides left
    load_project(config).sync()
    assert path.read_text(encoding="utf-8").splitlines() == ["id\tprice\tavailability"]

"""Golden files for the example shop's Google feeds (regenerate: FEEDSYNC_UPDATE_GOLDEN=1)."""

import os
import shutil
from pathlib import Path

from lxml import etree

from feedsync.api import run_build
from feedsync.config import load_config
from tests.conftest import GOLDEN

UPDATE = os.environ.get("FEEDSYNC_UPDATE_GOLDEN") == "1"
SAFE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
G = "{http://base.google.com/ns/1.0}"


def build_tienda(tienda: Path):
    report = run_build(load_config(tienda))
    return report, tienda.parent / "feeds"


def check_golden(produced: Path, golden: Path) -> None:
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(produced, golden)
    assert produced.read_bytes() == golden.read_bytes(), (
        f"{produced.name} differs from {golden}; if the change is intended, rerun with "
        "FEEDSYNC_UPDATE_GOLDEN=1 and review the diff")


def test_example_shop_google_xml_and_tsv_match_golden(tienda: Path):
    report, feeds = build_tienda(tienda)
    check_golden(feeds / "google_es.xml", GOLDEN / "google_merchant" / "google_es.xml")
    check_golden(feeds / "google_es.tsv", GOLDEN / "google_merchant" / "google_es.tsv")
    channel = report.channels["google_es"]
    assert (report.rows, channel.items, channel.excluded, report.invalid) == (40, 36, 1, 0)
    assert channel.filtered == 3  # out of stock: dropped by the channel's first rule


def test_builds_are_idempotent(tienda: Path):
    _, feeds = build_tienda(tienda)
    first = (feeds / "google_es.xml").read_bytes()
    _, feeds = build_tienda(tienda)
    assert (feeds / "google_es.xml").read_bytes() == first


def test_example_xml_is_valid_rss_and_parses_back(tienda: Path, reference: Path):
    _, feeds = build_tienda(tienda)
    schema = etree.XMLSchema(etree.parse(str(reference / "schemas" / "rss-2_0.xsd")))
    document = etree.parse(str(feeds / "google_es.xml"), SAFE_PARSER)
    assert schema.validate(document), schema.error_log
    items = document.getroot().findall("channel/item")
    assert len(items) == 36
    by_id = {i.findtext(f"{G}id"): i for i in items}
    dress = by_id["VES-LIN-ROJ-36"]
    assert dress.findtext(f"{G}price") == "59.90 EUR"
    assert dress.findtext(f"{G}sale_price") == "44.90 EUR"
    assert dress.findtext(f"{G}sale_price_effective_date") == (
        "2026-11-20T00:00+0100/2026-11-30T23:59+0100")
    assert dress.findtext(f"{G}item_group_id") == "VES-LIN"
    assert dress.findtext(f"{G}gender") == "female"
    assert "<" not in dress.findtext(f"{G}description")
    preorder = by_id["CON-NX-2"]
    assert preorder.findtext(f"{G}availability") == "preorder"
    assert preorder.findtext(f"{G}availability_date") == "2027-01-15T00:00+0100"
    assert by_id["MON-27-QHD"].findtext(f"{G}price") == "1249.00 EUR"
    # AUR-IN-EAR's bad GTIN is left out, not the product: Google lists it on brand + mpn.
    assert "GOR-LAN" not in by_id and by_id["AUR-IN-EAR"].findtext(f"{G}gtin") is None
    # The rules' effects: title template, labels, a category looked up from product_type.
    assert dress.findtext(f"{G}title") == "Vestido midi de lino Rojo talla 36 - Lino & Co"
    assert dress.findtext(f"{G}custom_label_0") == "20-100"
    assert by_id["SAR-HIE-24"].findtext(f"{G}google_product_category") == "662"


def test_google_reference_feed_validates_with_the_same_schema(reference: Path):
    # Guards the schema check above: Google's own example must pass it too.
    schema = etree.XMLSchema(etree.parse(str(reference / "schemas" / "rss-2_0.xsd")))
    assert schema.validate(etree.parse(str(reference / "google" / "example_feed_rss_2011.xml"),
                                       SAFE_PARSER))

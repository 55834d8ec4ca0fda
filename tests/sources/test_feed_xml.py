"""An existing Google feed as the master: round trip, Atom, entity bombs, broken XML."""

from __future__ import annotations

import re
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import pytest

from feedsync.api import run_build
from feedsync.errors import SourceError
from feedsync.products.dates import parse_datetime
from feedsync.products.parse import ENUM_SYNONYMS
from feedsync.sources.feed_xml import GoogleFeedSource
from tests.sources.helpers import render_items, write_config

_AMOUNT = re.compile(r"(\d+(?:\.\d+)?) ([A-Z]{3})")


def _normal(name: str, value: str) -> object:
    """A value as Google reads it: enums in any spelling, amounts and dates by value."""
    if name in ENUM_SYNONYMS or name == "condition":
        key = re.sub(r"[\s\-]+", "_", value.strip().casefold())
        return ENUM_SYNONYMS.get(name, {}).get(key, key)
    if name == "sale_price_effective_date":
        return tuple(parse_datetime(part) for part in value.split("/"))
    value = _AMOUNT.sub(lambda m: f"{Decimal(m[1]).normalize()} {m[2]}", value)
    return " ".join(value.split())


def test_google_example_feed_round_trips(reference: Path, tmp_path: Path) -> None:
    original = reference / "google" / "example_feed_rss_2011.xml"
    config = write_config(tmp_path / "feedsync.yaml", {
        "source": {"path": str(original)},
        "channels": {"google": {"spec": "google_merchant", "output": "rebuilt.xml"}}})
    report = run_build(config)
    before = {r.data["id"]: r.data for r in GoogleFeedSource(original).rows()}
    after = {r.data["id"]: r.data for r in GoogleFeedSource(tmp_path / "rebuilt.xml").rows()}
    assert len(before) == 6 and report.products == 6
    # The 2011 feed's preorder DVD and its "available for order" (backorder) coat have no
    # availability_date, which Google requires today for both: the channel leaves them out
    # (with an error); every other item comes back whole.
    assert set(before) - set(after) == {"DVD-0564738", "CLO-1029384"}
    # Its jeans' google_product_category ("... > Clothing > Jeans") is no longer a path of
    # Google's taxonomy (2021-09-21): Google would ignore it, so it is left out (a warning).
    for jeans in ("CLO-29473856-1", "CLO-29473856-2"):
        assert "google_product_category" not in after[jeans]
        after[jeans]["google_product_category"] = before[jeans]["google_product_category"]
    assert {i.product_id for i in report.issues if i.code == "unknown-category"} >= {
        "CLO-29473856-1", "CLO-29473856-2"}
    for product_id, item in after.items():
        source = before[product_id]
        assert set(item) == set(source), product_id
        for name, value in source.items():
            assert _normal(name, item[name]) == _normal(name, value), (product_id, name)


def test_items_are_numbered_by_their_line(reference: Path) -> None:
    rows = list(GoogleFeedSource(reference / "google" / "example_feed_rss_2011.xml").rows())
    assert rows[0].row == 9 and rows[0].data["shipping"] == "US::Standard:14.95 USD"
    assert all(a.row < b.row for a, b in pairwise(rows))


ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:g="http://base.google.com/ns/1.0">
  <title>Tienda</title>
  <entry>
    <g:id>A-1</g:id>
    <title>Abrigo &amp; bufanda</title>
    <link href="https://tienda.example.es/a-1"/>
    <summary>Abrigo de lana</summary>
    <g:price>49.90 EUR</g:price>
    <g:availability>in_stock</g:availability>
    <g:condition>new</g:condition>
    <g:brand>Lanas</g:brand>
    <g:image_link>https://tienda.example.es/a-1.jpg</g:image_link>
    <g:additional_image_link>https://tienda.example.es/a-1b.jpg</g:additional_image_link>
    <g:additional_image_link>https://tienda.example.es/a-1c.jpg</g:additional_image_link>
  </entry>
</feed>
"""


def test_atom_feed(tmp_path: Path) -> None:
    (tmp_path / "feed.atom").write_text(ATOM)
    config = write_config(tmp_path / "feedsync.yaml", {"source": {"path": "feed.atom"},
                                                        "channels": {}})
    [item], _ = render_items(config)
    assert item["title"] == "Abrigo & bufanda"
    assert item["link"] == "https://tienda.example.es/a-1"
    assert item["description"] == "Abrigo de lana"
    assert item["additional_image_link"] == ["https://tienda.example.es/a-1b.jpg",
                                             "https://tienda.example.es/a-1c.jpg"]


BOMB = """<?xml version="1.0"?>
<!DOCTYPE rss [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<rss xmlns:g="http://base.google.com/ns/1.0" version="2.0"><channel>
<item><g:id>&lol3;</g:id></item></channel></rss>
"""


def test_entity_bomb_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bomb.xml").write_text(BOMB)
    with pytest.raises(SourceError) as caught:
        GoogleFeedSource(tmp_path / "bomb.xml")
    assert caught.value.message == (
        "bomb.xml declares XML entities in its DOCTYPE, which feedsync refuses to expand "
        "(an entity bomb can exhaust memory); remove the DOCTYPE")


def test_external_entities_are_never_fetched(tmp_path: Path) -> None:
    """An entity declared beyond the first 64 KiB still is neither resolved nor fetched."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    padding = "<!-- " + "x" * 70_000 + " -->\n"
    (tmp_path / "xxe.xml").write_text(
        f'<?xml version="1.0"?>\n{padding}<!DOCTYPE rss [<!ENTITY s SYSTEM "file://{secret}">]>'
        '<rss xmlns:g="http://base.google.com/ns/1.0"><channel><item><g:id>A</g:id>'
        "<title>&s;</title></item></channel></rss>")
    rows = list(GoogleFeedSource(tmp_path / "xxe.xml").rows())
    assert all("TOP-SECRET" not in (v or "") for r in rows for v in r.data.values())


def test_malformed_xml_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "broken.xml").write_text(
        '<rss xmlns:g="http://base.google.com/ns/1.0"><channel>\n<item><g:id>A</g:id></item>\n'
        "<item><g:id>B</g:id>\n</channel></rss>")
    with pytest.raises(SourceError, match=r"broken.xml: line 4 is not well-formed XML"):
        list(GoogleFeedSource(tmp_path / "broken.xml").rows())

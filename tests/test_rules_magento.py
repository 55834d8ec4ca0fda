"""A realistic rule set on a real Magento 2 export (../shared/reference/masters/magento2/
configurable_products.csv) through a column mapping: children come before their
configurable parent, which lists them in `configurable_variations`."""

from __future__ import annotations

from pathlib import Path

from feedsync.api import run_build
from feedsync.config import load_config

CONFIG = """\
source:
  path: {master}
  columns:
    id: sku
    title: name
    description: description
    price: price
    sale_price: special_price
    product_type: categories
    quantity: qty
    availability: is_in_stock
  values:
    availability: {{"1": in_stock, "0": out_of_stock}}
  defaults:
    currency: USD
    condition: new

rulesets:
  tidy:
    - strip_html: description
    - collapse_whitespace: [title, description]
    - truncate: title

channels:
  google_us:
    spec: google_merchant
    outputs: [feeds/google_us.tsv]
    rules:
      # product_type still holds all the Magento categories here; the set below keeps one.
      - when: "'Erin Recommends' in product_type"
        then:
          - set: {{custom_label_0: erin_recommends}}
      - set:
          link: "https://luma.example.com/{{{{ url_key }}}}.html"
          image_link: "https://luma.example.com/media/catalog/product{{{{ base_image }}}}"
          brand: Luma
          material: "{{{{ additional_attributes | regex_search('material=([^,]+)') }}}}"
          product_type: >-
            {{{{ product_type.split(',')[0] | replace('Default Category/', '')
                 | replace('/', ' > ') }}}}
      - variants:
          parent: "extra['product_type'] == 'configurable'"
          children_column: configurable_variations
          children_pattern: "sku=([^,|]+)"
          carry_down: [material]
      - use: tidy
      - map_category: {{from: product_type, table: categories.yaml, default: 1604}}
      - price_buckets:
          into: custom_label_1
          buckets: [{{below: 30, label: under_30}}, {{below: 60, label: "30_60"}}, {{label: 60_up}}]
      - round_price: {{to: .99, direction: down}}
"""

CATEGORIES = """\
Men > Tops > Hoodies & Sweatshirts: 5322
Women > Tops > Hoodies & Sweatshirts: 5322
Men > Tops > Tees: 212
Women > Tops > Tees: 212
Men > Tops > Jackets: 5598
Women > Tops > Jackets: 5598
Men > Bottoms > Pants: 204
Women > Bottoms > Pants: 204
Men > Bottoms > Shorts: 207
Women > Bottoms > Shorts: 207
"""


def test_magento_configurable_products(reference: Path, tmp_path: Path) -> None:
    master = reference / "masters" / "magento2" / "configurable_products.csv"
    (tmp_path / "categories.yaml").write_text(CATEGORIES, encoding="utf-8")
    path = tmp_path / "feedsync.yaml"
    path.write_text(CONFIG.format(master=master), encoding="utf-8")
    report = run_build(load_config(path))

    channel = report.channels["google_us"]
    counts = {c.label.split(" ")[0]: c for c in channel.rules}
    assert report.products == 1994
    assert channel.filtered == 147 == counts["variants"].dropped  # the configurable parents
    assert channel.items == 1994 - 147
    assert counts["variants"].changed == 1847  # every simple is in a group
    assert counts["map_category"].changed > 1500

    lines = (tmp_path / "feeds" / "google_us.tsv").read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    rows = [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:]]
    hoodie = next(r for r in rows if r["id"] == "MH01-XS-Black")
    assert hoodie["item_group_id"] == "MH01"
    assert hoodie["material"] == "Wool"  # only the parent row says so: carried down
    assert hoodie["google_product_category"] == "5322"
    assert hoodie["product_type"] == "Men > Tops > Hoodies & Sweatshirts"
    assert hoodie["price"] == "51.99 USD"
    assert hoodie["link"] == "https://luma.example.com/chaz-kangeroo-hoodie-xs-black.html"
    assert "<p>" not in hoodie["description"]
    assert {r["custom_label_1"] for r in rows} == {"under_30", "30_60", "60_up"}
    assert "erin_recommends" in {r.get("custom_label_0") for r in rows}
    assert not any(r["id"] == "MH01" for r in rows)

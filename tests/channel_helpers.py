"""Shared pieces of the channel tests: a kitchen-sink product and safe parsers per format."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment
from lxml import etree

from feedsync.channels.render import CONTEXT_NAMES
from feedsync.channels.spec import ChannelSpec, FieldSpec
from feedsync.config import FeedInfo
from feedsync.products.product import (
    CANONICAL_FIELDS,
    DateWindow,
    Measure,
    Money,
    Product,
    Shipping,
)

UTC = timezone.utc
HOSTILE = 'Taza "grande" & <b>fuerte</b>, 50% más; tab\there'


def kitchen_sink(**changes: Any) -> Product:
    """A product with every canonical field and the extra columns channel specs read."""
    product = Product(
        id="KS-001",
        row=2,
        title="Camiseta de algodón orgánico Azul M",
        description="Camiseta de manga corta, 100% algodón orgánico, corte regular.",
        link="https://tienda.example.es/p/ks-001?talla=M&color=azul",
        image_link="https://cdn.tienda.example.es/img/ks-001.jpg",
        additional_image_link=["https://cdn.tienda.example.es/img/ks-001-2.jpg",
                               "https://cdn.tienda.example.es/img/ks-001-3.jpg"],
        price=Money(Decimal("19.95"), "EUR"),
        sale_price=Money(Decimal("14.95"), "EUR"),
        sale_price_effective_date=DateWindow(datetime(2026, 12, 1, tzinfo=UTC),
                                             datetime(2026, 12, 24, 23, 59, tzinfo=UTC)),
        availability="in_stock",
        availability_date=None,
        condition="new",
        brand="Algodonera",
        gtin="8412345678905",
        mpn="ALG-KS-001",
        identifier_exists=True,
        google_product_category="212",
        product_type="Ropa > Camisetas",
        item_group_id="KS",
        color="Azul",
        size="M",
        gender="unisex",
        age_group="adult",
        material="Algodón",
        pattern="Liso",
        shipping_weight=Measure(Decimal("0.2"), "kg"),
        shipping=[Shipping("ES", Money(Decimal("3.95"), "EUR"), service="Estándar")],
        custom_label_0="verano",
        quantity=12,
        extra={"amazon_product_type": "SHIRT", "ml_category_id": "MLM1234"},
    )
    for name, value in changes.items():
        setattr(product, name, value)
    return product


# What a spec's market changes in the kitchen sink: Mercado Libre has no EUR site, so its
# kitchen sink is priced in Mexican pesos, as the example's MX market converts it.
MARKET_CHANGES: dict[str, dict[str, Any]] = {
    "mercadolibre_items": {"price": Money(Decimal("407.98"), "MXN"),
                           "sale_price": Money(Decimal("305.73"), "MXN"),
                           "shipping": [Shipping("MX", Money(Decimal("99"), "MXN"))]},
}


def kitchen_sink_for(spec_name: str, **changes: Any) -> Product:
    """The kitchen sink as the spec's channel sells it (its market's currency)."""
    return kitchen_sink(**{**MARKET_CHANGES.get(spec_name, {}), **changes})


def run_context(spec: ChannelSpec) -> dict[str, Any]:
    """Settings with a dummy value for those the config must give."""
    settings = {k: ("X1" if v is None else v) for k, v in spec.settings.items()}
    feed = FeedInfo(title="Tienda de ejemplo", link="https://tienda.example.es/")
    return {"settings": settings, "market": {"country": "ES", "language": "es",
                                             "currency": "EUR"},
            "feed": feed.model_dump()}


_env = SandboxedEnvironment()


def product_inputs(field: FieldSpec) -> set[str]:
    """The product fields / master columns a spec field reads."""
    if field.value is not None:
        return set()
    if field.sources is not None:
        return set(field.sources)
    if field.template is not None:
        names = meta.find_undeclared_variables(_env.parse(field.template))
        return {n for n in names if n not in CONTEXT_NAMES}
    return {field.source_field}


def without(product: Product, names: set[str]) -> Product:
    for name in names:
        if name in CANONICAL_FIELDS:
            empty: Any = [] if isinstance(getattr(product, name), list) else None
            setattr(product, name, empty)
        else:
            product.extra.pop(name, None)
    return product


def parse_output(path: Path, writer: str, delimiter: str = ",") -> list[Any]:
    """Parse a feed with a safe parser; return its items (XML elements, rows or objects)."""
    data = path.read_bytes()
    if writer == "xml":
        parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
        root = etree.fromstring(data, parser)
        return root.findall("./channel/item")
    text = data.decode("utf-8")
    if writer == "delimited":
        if delimiter == "\t":
            rows = [line.split("\t") for line in text.splitlines()]
        else:
            rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
        header = rows[0]
        assert all(len(r) == len(header) for r in rows), "ragged rows"
        return [dict(zip(header, r, strict=True)) for r in rows[1:]]
    if writer == "json":
        return [json.loads(text)]
    return [json.loads(line) for line in text.splitlines()]

"""Shop export presets: `source: {path: export.csv, preset: shopify | woocommerce | magento2 |
meta}` brings each export's column mapping and quirks, so a merchant maps nothing.

A preset wraps the CSV source and yields SourceRows whose keys are canonical field names
(`title`, `price`, `item_group_id`...), which the row parser maps without configuration;
the export's other columns are kept under their own headers. Each preset is its column table
(data) plus the quirks that no table can express:

* Shopify: one row per variant with the parent's fields only on its first row; image-only
  rows; products whose `Status` is draft/archived (or unpublished) are left out; no product
  links in the export, so `shop_url` builds them (`/products/<handle>`); the free-form
  `Variant Barcode` is used as GTIN only when it is a valid one.
* WooCommerce: `variable` parents are not listed, their `variation`s are, pointing at the
  parent through `Parent` (SKU or `id:NN`) -> item_group_id and inheriting what they leave
  empty; `Attribute N name/value(s)` -> color/size; links are `shop_url/?p=<ID>`.
* Magento 2: configurable parents are not listed, their simple children are (the parent's
  `configurable_variations` names them) with the parent's page as link; `additional_attributes`
  `k=v` lists become columns; store-view rows (translations) are skipped; images are under
  `shop_url/media/catalog/product`.
* Meta: Meta's catalog CSV already uses Google's names; only its own extras are mapped.

Parents (WooCommerce, Magento) are held in memory keyed by SKU; a shop export of a few
hundred thousand rows fits comfortably. HTML descriptions are turned into plain text here.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from feedsync.checks import codes
from feedsync.checks.issue import warning
from feedsync.checks.text import strip_html
from feedsync.errors import ConfigError
from feedsync.sources.base import Source, SourceRow, columns_seen

Row = dict[str, str | None]

# canonical field -> export column, per preset (the data part of each preset).
SHOPIFY_COLUMNS = {
    "title": "Title", "description": "Body (HTML)", "brand": "Vendor",
    "product_type": "Type", "google_product_category": "Google Shopping / Google Product Category",
    "gender": "Google Shopping / Gender", "age_group": "Google Shopping / Age Group",
    "mpn": "Google Shopping / MPN", "condition": "Google Shopping / Condition",
    "custom_label_0": "Google Shopping / Custom Label 0",
    "custom_label_1": "Google Shopping / Custom Label 1",
}
WOOCOMMERCE_COLUMNS = {
    "title": "Name", "description": "Description", "quantity": "Stock",
}
MAGENTO2_COLUMNS = {
    "id": "sku", "title": "name", "description": "description", "quantity": "qty",
}
META_COLUMNS = {"quantity": "quantity_to_sell_on_facebook"}
_NOT_INHERITED = {"id", "price", "sale_price", "sale_price_effective_date", "color", "size"}
_COLOR_NAMES = {"color", "colour", "farbe", "couleur", "colore", "kleur"}
_SIZE_NAMES = {"size", "talla", "größe", "grösse", "taille", "taglia", "maat"}


@dataclass
class PresetContext:
    shop_url: str | None
    weight_unit: str | None


class PresetSource:
    """A shop export read through its preset."""

    def __init__(self, inner: Source, preset: str, *, shop_url: str | None = None,
                 weight_unit: str | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.preset = preset
        self.context = PresetContext(shop_url.rstrip("/") if shop_url else None, weight_unit)
        transform, required, needs_shop_url = _PRESETS[preset]
        missing = [c for c in required if c not in inner.columns]
        if missing:
            raise ConfigError(
                f"{inner.name} is not a {preset} export: it has no column "
                + ", ".join(repr(c) for c in missing))
        if needs_shop_url and not self.context.shop_url:
            raise ConfigError(f"a {preset} export holds no product links; set source.shop_url "
                              "to the shop's address (e.g. https://shop.example.com)")
        self._transform = transform
        self._columns: list[str] | None = None

    @property
    def columns(self) -> list[str]:
        if self._columns is None:
            self._columns = columns_seen(self.rows())
        return self._columns

    def rows(self) -> Iterator[SourceRow]:
        return self._transform(self.inner, self.context)


# -- Shopify -----------------------------------------------------------------------------

def _shopify(inner: Source, ctx: PresetContext) -> Iterator[SourceRow]:
    group: list[SourceRow] = []
    for source_row in inner.rows():
        handle = source_row.data.get("Handle") or ""
        if group and handle != (group[0].data.get("Handle") or ""):
            yield from _shopify_product(group, ctx)
            group = []
        group.append(source_row)
    if group:
        yield from _shopify_product(group, ctx)


def _shopify_product(group: list[SourceRow], ctx: PresetContext) -> Iterator[SourceRow]:
    # Imported here: python-stdnum pulls in ssl (~0.1 G instructions), which a build
    # without the Shopify preset never needs.
    from stdnum import ean

    parent = group[0].data
    status = (parent.get("Status") or "active").strip().lower()
    published = (parent.get("Published") or "true").strip().lower()
    if status != "active" or published in ("false", "0", "no"):
        return
    variants = [r for r in group if _shopify_is_variant(r.data)]
    images = [u for r in group if (u := (r.data.get("Image Src") or "").strip())]
    option_names = [(parent.get(f"Option{i} Name") or "").strip().lower() for i in (1, 2, 3)]
    handle = parent.get("Handle") or ""
    for number, variant in enumerate(variants, start=1):
        data = {k: v for k, v in variant.data.items() if v}
        issues = list(variant.issues)
        row = {field: parent.get(column) for field, column in SHOPIFY_COLUMNS.items()}
        row["google_product_category"] = (parent.get(SHOPIFY_COLUMNS["google_product_category"])
                                          or parent.get("Product Category"))
        row["description"] = _plain(row["description"])
        row["id"] = data.get("Variant SKU") or f"{handle}-{number}"
        if len(variants) > 1:
            row["item_group_id"] = handle
        row["link"] = f"{ctx.shop_url}/products/{handle}"
        own_image = data.get("Variant Image")
        gallery = ([own_image] if own_image else []) + [u for u in images if u != own_image]
        row["images"] = "\n".join(gallery) or None
        for index, name in enumerate(option_names, start=1):
            value = data.get(f"Option{index} Value")
            if not value or value == "Default Title":
                continue
            if name in _COLOR_NAMES:
                row["color"] = value
            elif name in _SIZE_NAMES:
                row["size"] = value
        price, compare_at = data.get("Variant Price"), data.get("Variant Compare At Price")
        if compare_at and price and _number(compare_at) > _number(price):
            row["price"], row["sale_price"] = compare_at, price
        else:
            row["price"] = price
        tracked = bool(data.get("Variant Inventory Tracker"))
        quantity = _number(data.get("Variant Inventory Qty") or "0")
        oversell = (data.get("Variant Inventory Policy") or "").lower() == "continue"
        row["availability"] = ("in_stock" if not tracked or quantity > 0 or oversell
                               else "out_of_stock")
        if tracked:
            row["quantity"] = data.get("Variant Inventory Qty")
        if data.get("Variant Grams"):
            row["shipping_weight"] = f"{data['Variant Grams']} g"
        barcode = (data.get("Variant Barcode") or "").strip().lstrip("'")
        if barcode:
            row["barcode"] = barcode
            if barcode.isdigit() and len(barcode) in (8, 12, 13, 14) and ean.is_valid(barcode):
                row["gtin"] = barcode
            else:
                issues.append(warning(
                    codes.BARCODE_NOT_GTIN,
                    f"Variant Barcode {barcode} is not a valid GTIN (Shopify's barcode field "
                    "is free-form); it is not sent as gtin", row=variant.row,
                    product_id=row["id"], field="gtin", value=barcode))
        yield SourceRow(variant.row, _clean(row), issues)


def _shopify_is_variant(data: Row) -> bool:
    return bool(data.get("Variant SKU") or data.get("Variant Price") or data.get(
        "Option1 Value"))


# -- WooCommerce -------------------------------------------------------------------------

def _woocommerce(inner: Source, ctx: PresetContext) -> Iterator[SourceRow]:
    parents: dict[str, Row] = {}
    for source_row in inner.rows():
        data = source_row.data
        kind = (data.get("Type") or "simple").strip().lower()
        if "variable" in kind:
            row = _woo_row(data, ctx)
            for key in (data.get("SKU"), f"id:{data.get('ID')}"):
                if key:
                    parents[key] = row
        if (data.get("Published") or "1").strip() not in ("1", ""):
            continue
        if "variation" in kind:
            parent_key = (data.get("Parent") or "").strip()
            parent = parents.get(parent_key, {})
            row = _woo_row(data, ctx)
            for name, value in parent.items():
                # A variation's empty attribute means "any value", not the parent's list.
                if not row.get(name) and name not in _NOT_INHERITED and not name.startswith(
                        "attribute:"):
                    row[name] = value
            row["item_group_id"] = parent.get("id") or parent_key.removeprefix("id:")
            if parent.get("link"):
                row["link"] = parent["link"]
            yield SourceRow(source_row.row, _clean(row), list(source_row.issues))
        elif kind in ("simple", "external") or "simple" in kind:
            row = _woo_row(data, ctx)
            yield SourceRow(source_row.row, _clean(row), list(source_row.issues))
        # `variable` parents and `grouped` products are containers, not purchasable items.


def _woo_row(data: Row, ctx: PresetContext) -> Row:
    row: Row = {field: data.get(column) for field, column in WOOCOMMERCE_COLUMNS.items()}
    row["id"] = data.get("SKU") or data.get("ID")
    row["description"] = _plain(data.get("Description") or data.get("Short description"))
    row["link"] = f"{ctx.shop_url}/?p={data.get('ID')}"
    row["price"] = data.get("Regular price")
    row["sale_price"] = data.get("Sale price")
    row["sale_price_start"] = data.get("Date sale price starts")
    row["sale_price_end"] = data.get("Date sale price ends")
    in_stock = (data.get("In stock?") or "1").strip()
    backorders = (data.get("Backorders allowed?") or "0").strip()
    row["availability"] = ("in_stock" if in_stock in ("1", "yes") else
                           "backorder" if backorders in ("1", "notify") else "out_of_stock")
    if data.get("Weight (lbs)"):
        row["shipping_weight"] = f"{data['Weight (lbs)']} lb"
    elif data.get("Weight (kg)"):
        row["shipping_weight"] = f"{data['Weight (kg)']} kg"
    images = [u.strip() for u in (data.get("Images") or "").split(",") if u.strip()]
    row["images"] = "\n".join(images) or None
    categories = (data.get("Categories") or "").split(",")
    row["product_type"] = categories[0].strip() or None
    for index in range(1, 10):
        name = (data.get(f"Attribute {index} name") or "").strip().lower()
        if not name:
            continue
        value = (data.get(f"Attribute {index} value(s)") or "").strip()
        value = "/".join(v.strip() for v in value.split(",") if v.strip())
        if name in _COLOR_NAMES:
            row["color"] = value
        elif name in _SIZE_NAMES:
            row["size"] = value
        elif value:
            row[f"attribute:{name}"] = value
    return row


# -- Magento 2 ---------------------------------------------------------------------------

def _magento2(inner: Source, ctx: PresetContext) -> Iterator[SourceRow]:
    # First pass: which configurable parent each child belongs to (children come first).
    parent_of: dict[str, Row] = {}
    for source_row in inner.rows():
        data = source_row.data
        if (data.get("product_type") or "") != "configurable" or data.get("store_view_code"):
            continue
        # Magento derives a missing url_key from the name, as the import does.
        parent = {"sku": data.get("sku"),
                  "url_key": data.get("url_key") or _slug(data.get("name") or ""),
                  "description": data.get("description"),
                  "additional_attributes": data.get("additional_attributes")}
        for variation in (data.get("configurable_variations") or "").split("|"):
            child = _key_values(variation, ",").get("sku")
            if child:
                parent_of[child] = parent
    unit = ctx.weight_unit or "lb"
    for source_row in inner.rows():
        data = source_row.data
        kind = (data.get("product_type") or "simple").strip()
        if data.get("store_view_code") or kind not in ("simple", "virtual", "downloadable"):
            continue
        if (data.get("product_online") or "1").strip() == "2":
            continue  # disabled in the shop
        sku = data.get("sku") or ""
        parent_row = parent_of.get(sku)
        if parent_row is None and (data.get("visibility") or "") == "Not Visible Individually":
            continue
        row: Row = {field: data.get(column) for field, column in MAGENTO2_COLUMNS.items()}
        row["title"] = html.unescape(data.get("name") or "") or None  # names hold &trade;
        row["description"] = _plain(data.get("description") or (parent_row or {}).get(
            "description") or data.get("short_description"))
        url_key = (parent_row or {}).get("url_key") or data.get("url_key") or sku.lower()
        row["link"] = f"{ctx.shop_url}/{url_key}.html"
        media = f"{ctx.shop_url}/media/catalog/product"
        images = [data.get("base_image"), *(data.get("additional_images") or "").split(",")]
        row["images"] = "\n".join(
            f"{media}/{p.strip().lstrip('/')}" if not p.strip().startswith("http") else p.strip()
            for p in images if p and p.strip() and p.strip() != "no_selection") or None
        row["price"] = data.get("price")
        if data.get("special_price"):
            row["sale_price"] = data.get("special_price")
            row["sale_price_start"] = data.get("special_price_from_date")
            row["sale_price_end"] = data.get("special_price_to_date")
        row["availability"] = ("in_stock" if (data.get("is_in_stock") or "1").strip() == "1"
                               else "out_of_stock")
        if data.get("weight"):
            row["shipping_weight"] = f"{data['weight']} {unit}"
        categories = [c for c in (data.get("categories") or "").split(",") if c.strip()]
        if categories:
            path = [p for p in categories[0].split("/") if p and p != "Default Category"]
            row["product_type"] = " > ".join(path) or None
        if parent_row is not None:
            row["item_group_id"] = parent_row["sku"]
        attributes = _key_values((parent_row or {}).get("additional_attributes") or "", ",")
        attributes.update(_key_values(data.get("additional_attributes") or "", ","))
        for key, value in attributes.items():
            if key in ("has_options", "required_options", "quantity_and_stock_status"):
                continue
            target = ("color" if key == "color" else "size" if key == "size" else
                      "material" if key == "material" else
                      "brand" if key == "manufacturer" else f"attribute:{key}")
            row[target] = value.replace("|", "/") if target in ("color", "material") else value
        yield SourceRow(source_row.row, _clean(row), list(source_row.issues))


def _key_values(text: str, separator: str) -> dict[str, str]:
    """`a=1,b=x|y` -> {a: 1, b: x|y}; commas inside a value (no `=` after them) are kept."""
    result: dict[str, str] = {}
    key = None
    for part in text.split(separator):
        name, eq, value = part.partition("=")
        if eq and re.fullmatch(r"[A-Za-z0-9_]+", name.strip()):
            key = name.strip()
            result[key] = value.strip()
        elif key is not None:
            result[key] += separator + part
    return result


# -- Meta --------------------------------------------------------------------------------

def _meta(inner: Source, ctx: PresetContext) -> Iterator[SourceRow]:
    for source_row in inner.rows():
        data = dict(source_row.data)
        for field, column in META_COLUMNS.items():
            if column in data and field not in data:
                data[field] = data.pop(column)
        yield SourceRow(source_row.row, data, list(source_row.issues))


# -- helpers -----------------------------------------------------------------------------

def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", html.unescape(text).lower()).strip("-")


def _plain(text: str | None) -> str | None:
    return strip_html(text) if text else text


def _number(text: str) -> float:
    try:
        return float(text.replace(",", "."))
    except ValueError:
        return 0.0


def _clean(row: Row) -> Row:
    """Empty values dropped; a sale's start and end joined into Google's interval."""
    start, end = row.pop("sale_price_start", None), row.pop("sale_price_end", None)
    if start and end:
        row["sale_price_effective_date"] = f"{start.strip()}/{end.strip()}"
    return {k: (v.strip() if isinstance(v, str) else v) for k, v in row.items()
            if v not in (None, "")}


Transform = Callable[[Source, PresetContext], Iterator[SourceRow]]
_PRESETS: dict[str, tuple[Transform, tuple[str, ...], bool]] = {
    "shopify": (_shopify, ("Handle", "Variant SKU", "Variant Price"), True),
    "woocommerce": (_woocommerce, ("Type", "SKU", "Regular price", "Parent"), True),
    "magento2": (_magento2, ("sku", "product_type", "price", "additional_attributes"), True),
    "meta": (_meta, ("id", "title", "price"), False),
}
PRESETS: tuple[str, ...] = tuple(_PRESETS)


def detect_preset(columns: list[str]) -> str | None:
    """The shop export these columns come from, when every column its preset needs is there
    (`feedsync init`). Meta's needs are Google's own names, so it is told by its extra."""
    present = set(columns)
    for name, (_, required, _) in _PRESETS.items():
        if name == "meta":
            continue
        if all(c in present for c in required):
            return name
    if "quantity_to_sell_on_facebook" in present and {"id", "title", "price"} <= present:
        return "meta"
    return None

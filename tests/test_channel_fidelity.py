"""Each channel's own published rules (issue 11): a product built to break one rule is left
out, cleaned or warned about with the right code and channel, and a good one still passes;
the specs agree with the channels' machine-readable schemas where they publish one."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from feedsync.channels.loader import load_spec
from feedsync.channels.render import ChannelRenderer, Item
from feedsync.checks import codes
from feedsync.checks.issue import Issue, Severity
from feedsync.products.dates import now as current_time
from feedsync.products.product import DateWindow, Money, Product, Shipping
from tests.channel_helpers import kitchen_sink, run_context


def render(spec_name: str, product: Product, **settings: str) -> tuple[Item | None, list[Issue]]:
    spec = load_spec(spec_name)
    context = run_context(spec)
    context["settings"].update(settings)
    return ChannelRenderer(spec, spec_name, context=context).render(product)


def only(issues: list[Issue], code: str) -> Issue:
    found = [i for i in issues if i.code == code]
    assert len(found) == 1, [(i.code, i.message) for i in issues]
    return found[0]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


# -- Google Merchant Center ----------------------------------------------------------------

def test_google_good_product_passes() -> None:
    item, issues = render("google_merchant", kitchen_sink())
    assert item is not None and [i for i in issues if i.severity is not Severity.INFO] == []


def test_google_requires_a_brand_for_new_products() -> None:
    item, issues = render("google_merchant", kitchen_sink(brand=None))
    assert item is None
    issue = only(issues, "missing-required")
    assert (issue.field, issue.channel, issue.severity) == (
        "brand", "google_merchant", Severity.ERROR)


def test_google_books_need_no_brand() -> None:
    item, _ = render("google_merchant", kitchen_sink(brand=None, google_product_category="784"))
    assert item is not None


def test_google_backorder_requires_availability_date() -> None:
    item, issues = render("google_merchant", kitchen_sink(availability="backorder"))
    assert item is None
    assert only(issues, "missing-required").field == "availability_date"
    soon = current_time() + timedelta(days=20)
    item, _ = render("google_merchant",
                     kitchen_sink(availability="backorder", availability_date=soon))
    assert item is not None


def test_google_availability_date_at_most_a_year_ahead() -> None:
    later = current_time() + timedelta(days=400)
    item, issues = render("google_merchant",
                          kitchen_sink(availability="preorder", availability_date=later))
    assert item is None
    issue = only(issues, codes.DATE_TOO_FAR)
    assert (issue.field, issue.channel) == ("availability_date", "google_merchant")


@pytest.mark.parametrize("color", ["Rojo/Verde/Azul/Negro", "Rojo/" + "x" * 41, "Rojo//Azul"])
def test_google_colour_breaking_its_parts_is_left_out_with_a_warning(color: str) -> None:
    item, issues = render("google_merchant", kitchen_sink(color=color))
    assert item is not None and "color" not in item
    issue = only(issues, codes.VALUE_DROPPED)
    assert (issue.field, issue.severity, issue.channel) == (
        "color", Severity.WARNING, "google_merchant")


def test_google_three_colours_pass() -> None:
    item, issues = render("google_merchant", kitchen_sink(color="Rojo/Verde/Azul"))
    assert item is not None and item["color"] == "Rojo/Verde/Azul" and issues == []


@pytest.mark.parametrize("category", ["505", "Ropa > Camisetas raras", "99999999"])
def test_google_unknown_category_is_left_out_with_a_warning(category: str) -> None:
    item, issues = render("google_merchant", kitchen_sink(google_product_category=category))
    assert item is not None and "google_product_category" not in item
    issue = only(issues, codes.UNKNOWN_CATEGORY)
    assert (issue.field, issue.channel) == ("google_product_category", "google_merchant")


def test_google_category_as_a_full_path_passes() -> None:
    path = "Apparel & Accessories > Clothing > Shirts & Tops"
    item, issues = render("google_merchant", kitchen_sink(google_product_category=path))
    assert item is not None and item["google_product_category"] == path and issues == []


def test_shipping_in_another_currency_than_the_price_is_left_out() -> None:
    rules = [Shipping("ES", Money(Decimal("3.95"), "EUR")),
             Shipping("US", Money(Decimal("9.00"), "USD"))]
    item, issues = render("google_merchant", kitchen_sink(shipping=rules))
    assert item is not None
    assert [g["country"] for g in item["shipping"]] == ["ES"]  # type: ignore[index]
    issue = only(issues, codes.SHIPPING_CURRENCY_MISMATCH)
    assert (issue.field, issue.channel, issue.value) == ("shipping", "google_merchant", "USD")


def test_google_overlong_optional_attribute_is_dropped_not_the_item() -> None:
    item, issues = render("google_merchant", kitchen_sink(material="x" * 201))
    assert item is not None and "material" not in item
    assert only(issues, codes.VALUE_DROPPED).field == "material"


def test_google_spec_names_and_enums_match_the_merchant_api(reference: Path) -> None:
    api = json.loads((reference / "google" / "merchantapi.products_v1.discovery.json")
                     .read_text(encoding="utf-8"))
    attributes = api["schemas"]["ProductAttributes"]["properties"]
    # The feed names that differ from the API's ProductAttributes (product-level or plural).
    renamed = {"id": None, "link": "link", "gtin": "gtins", "product_type": "productTypes",
               "additional_image_link": "additionalImageLinks",
               "custom_label_0": "customLabel0", "custom_label_1": "customLabel1",
               "custom_label_2": "customLabel2", "custom_label_3": "customLabel3",
               "custom_label_4": "customLabel4"}
    spec = load_spec("google_merchant")
    for field in spec.fields:
        name = renamed.get(field.name, _camel(field.name))
        if name is not None:
            assert name in attributes, field.name
        if field.values:
            allowed = {v.lower() for v in attributes[name]["enum"]}
            assert {v.lower() for v in field.values.values()} <= allowed, field.name


# -- Amazon listings ----------------------------------------------------------------------

AMAZON = {"seller_id": "A1SELLER", "product_type": "PRODUCT"}


def _attributes(item: Item) -> dict[str, Any]:
    from feedsync.channels.shape import compile_shape

    spec = load_spec("amazon_listings")
    context = run_context(spec)
    resolve, _ = compile_shape(spec.formats["json"].item_shape, context, "test")
    return resolve(dict(item), 1, None)["attributes"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(("gtin", "kind"), [("8412345678905", "ean"), ("012345678905", "upc"),
                                            ("18412345678902", "gtin")])
def test_amazon_types_each_gtin_length(gtin: str, kind: str) -> None:
    item, issues = render("amazon_listings", kitchen_sink(gtin=gtin), **AMAZON)
    assert item is not None, issues
    [identifier] = _attributes(item)["externally_assigned_product_identifier"]
    assert (identifier["type"], identifier["value"]) == (kind, gtin)


def test_amazon_needs_an_identifier_an_asin_or_an_exemption() -> None:
    item, issues = render("amazon_listings", kitchen_sink(gtin=None), **AMAZON)
    assert item is None
    issue = only(issues, codes.MISSING_IDENTIFIER)
    assert (issue.channel, issue.severity) == ("amazon_listings", Severity.ERROR)
    product = kitchen_sink(gtin=None)
    product.extra["asin"] = "B0ABCDEF12"
    item, _ = render("amazon_listings", product, **AMAZON)
    assert item is not None
    assert _attributes(item)["merchant_suggested_asin"][0]["value"] == "B0ABCDEF12"
    item, _ = render("amazon_listings", kitchen_sink(gtin=None), identifier_exemption="true",
                     **AMAZON)
    assert item is not None
    exemption = _attributes(item)["supplier_declared_has_product_identifier_exemption"]
    assert exemption[0]["value"] is True


def _definition(tmp_path: Path, **schema: Any) -> Path:
    path = tmp_path / "SHIRT.json"
    path.write_text(json.dumps({
        "$id": "https://schemas.amazon.com/selling-partners/definitions/product-types/"
               "schema/v1/SHIRT",
        "type": "object", "additionalProperties": False, **schema}), encoding="utf-8")
    return path


def _value(**extra: Any) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "object", "required": ["value"], "properties": {
        "value": {"type": "string", **extra}, "marketplace_id": {"type": "string"},
        "language_tag": {"type": "string"}}}}


def test_amazon_definition_names_the_missing_attribute(tmp_path: Path) -> None:
    location = _definition(tmp_path, required=["item_name", "bullet_point"], properties={
        "item_name": _value(), "bullet_point": _value(), "brand": _value()})
    item, issues = render("amazon_listings", kitchen_sink(),
                          product_type_definitions=str(location), **AMAZON)
    assert item is None
    issue = only(issues, codes.PRODUCT_TYPE_INVALID)
    assert (issue.field, issue.channel) == ("bullet_point", "amazon_listings")
    assert "bullet_point is required" in issue.message


def test_amazon_definition_attributes_come_from_columns_and_the_mapping(
        tmp_path: Path) -> None:
    location = _definition(tmp_path, required=["item_name", "bullet_point", "care"],
                           properties={"item_name": _value(), "bullet_point": _value(),
                                       "care": _value(), "brand": _value()})
    spec = load_spec("amazon_listings")
    context = run_context(spec)
    context["settings"].update(AMAZON, product_type_definitions=str(location))
    context["attributes"] = {"bullet_point": "{{ material }}\nHecho en {{ origen }}"}
    product = kitchen_sink()
    product.extra.update(care="Lavar a 30", origen="España")
    item, issues = ChannelRenderer(spec, "amazon", context=context).render(product)
    assert item is not None, issues
    attributes = _attributes(item)
    # Only what the closed definition lists is sent; the values carry their keys.
    assert set(attributes) == {"item_name", "bullet_point", "care", "brand"}
    assert [v["value"] for v in attributes["bullet_point"]] == ["Algodón", "Hecho en España"]
    assert attributes["care"][0] == {"value": "Lavar a 30", "marketplace_id": "A1RKKUPIHCS9HS",
                                     "language_tag": "es_ES"}


def test_amazon_definition_enforces_amazon_keywords(tmp_path: Path) -> None:
    location = _definition(tmp_path, properties={
        "item_name": {**_value(maxUtf8ByteLength=20), "maxUniqueItems": 1},
        "brand": _value()})
    item, issues = render("amazon_listings", kitchen_sink(title="Camiseta de algodón ñ"),
                          product_type_definitions=str(location), **AMAZON)
    assert item is None
    issue = only(issues, codes.PRODUCT_TYPE_INVALID)
    assert issue.field == "item_name" and "bytes in UTF-8" in issue.message
    from feedsync.channels.product_types import load_definitions

    definition = load_definitions(str(location))["SHIRT"]
    two = {"brand": [{"value": "A"}], "item_name": [{"value": "x"}, {"value": "y"}]}
    assert [a for a, _ in definition.problems(two)] == ["item_name"]


def test_amazon_definition_for_another_type_leaves_the_product_out(tmp_path: Path) -> None:
    location = _definition(tmp_path, properties={"item_name": _value()})
    item, issues = render("amazon_listings", kitchen_sink(extra={}),
                          product_type_definitions=str(location), **AMAZON)
    assert item is None
    issue = only(issues, codes.UNKNOWN_PRODUCT_TYPE)
    assert (issue.field, issue.value) == ("product_type", "PRODUCT")


def _all_channels(tienda: Path, **amazon_settings: str) -> Path:
    import yaml

    path = tienda.parent / "feedsync.all-channels.yaml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["channels"]["amazon_listings"]["settings"].update(amazon_settings)
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def test_example_amazon_messages_satisfy_the_product_definition(tienda: Path,
                                                                reference: Path) -> None:
    from jsonschema import Draft7Validator, Draft201909Validator

    from feedsync.api import run_build
    from feedsync.config import load_config

    definition = reference / "amazon" / "product-type-PRODUCT.schema.json"
    config = _all_channels(tienda, product_type_definitions=str(definition))
    report = run_build(load_config(config), ["amazon_listings"])
    document = json.loads((tienda.parent / "feeds" / "amazon.part0001.json").read_text())
    feed_schema = json.loads((reference / "amazon" / "listings-feed-schema-v2.json").read_text())
    assert list(Draft7Validator(feed_schema).iter_errors(document)) == []
    product = Draft201909Validator(json.loads(definition.read_text(encoding="utf-8")))
    assert len(document["messages"]) == 11
    for message in document["messages"]:
        assert [e.message for e in product.iter_errors(message["attributes"])] == [], (
            message["sku"])
    invalid = [i for i in report.issues if i.code == codes.PRODUCT_TYPE_INVALID]
    assert [(i.field, i.channel) for i in invalid] == [("color", "amazon_listings")]


def test_an_amazon_feed_with_no_message_is_not_written(tienda: Path) -> None:
    from feedsync.api import run_build
    from feedsync.config import load_config

    config = _all_channels(tienda, product_type="")  # no type: every product left out
    report = run_build(load_config(config), ["amazon_listings", "google"])
    assert not list((tienda.parent / "feeds").glob("amazon*.json"))
    empty = [i for i in report.issues if i.code == codes.EMPTY_FEED]
    assert [(i.channel, i.severity) for i in empty] == [("amazon_listings", Severity.WARNING)]
    assert "not written" in empty[0].message


# -- Pinterest ----------------------------------------------------------------------------

def _pinterest_item_attributes(reference: Path) -> dict[str, Any]:
    api = json.loads((reference / "pinterest" / "pinterest-api-v5-openapi.json")
                     .read_text(encoding="utf-8"))
    schemas = api["components"]["schemas"]

    def properties(node: dict[str, Any]) -> dict[str, Any]:
        if "$ref" in node:
            return properties(schemas[node["$ref"].rsplit("/", 1)[-1]])
        found: dict[str, Any] = {}
        for part in node.get("allOf", []):
            found.update(properties(part))
        found.update(node.get("properties", {}))
        return found

    return properties(schemas["ItemAttributes"])


def _schema_limit(attribute: dict[str, Any]) -> int | None:
    if "maxLength" in attribute:
        return int(attribute["maxLength"])
    match = re.search(r"<=\s*([\d,]+)\s*characters", attribute.get("description", ""))
    return int(match[1].replace(",", "")) if match else None


def test_pinterest_limits_and_values_match_item_attributes(reference: Path) -> None:
    attributes = _pinterest_item_attributes(reference)
    spec = load_spec("pinterest_catalog")
    checked = 0
    for field in spec.fields:
        attribute = attributes.get(field.name)
        assert attribute is not None, f"{field.name} is not a Pinterest ItemAttribute"
        limit = _schema_limit(attribute)
        if limit is not None and field.format == "text":
            assert field.max_length == limit, field.name
            checked += 1
        allowed = re.findall(r"‘([^’]+)’", attribute.get("description", ""))
        if field.values and allowed:
            assert set(field.values.values()) <= {a.lower() for a in allowed}, field.name
    assert checked >= 10


def test_pinterest_custom_label_over_511_is_dropped_with_a_warning() -> None:
    item, issues = render("pinterest_catalog", kitchen_sink(custom_label_0="x" * 512))
    assert item is not None and "custom_label_0" not in item
    issue = only(issues, codes.VALUE_DROPPED)
    assert (issue.field, issue.channel) == ("custom_label_0", "pinterest_catalog")


def test_pinterest_unknown_category_is_flagged() -> None:
    item, issues = render("pinterest_catalog", kitchen_sink(google_product_category="505"))
    assert item is not None and "google_product_category" not in item
    assert only(issues, codes.UNKNOWN_CATEGORY).channel == "pinterest_catalog"


# -- eBay ---------------------------------------------------------------------------------

def test_ebay_good_product_passes() -> None:
    item, issues = render("ebay_inventory", kitchen_sink())
    assert item is not None and issues == []


def test_ebay_http_image_is_left_out_with_a_warning() -> None:
    product = kitchen_sink(image_link="http://cdn.tienda.example.es/img/ks-001.jpg")
    item, issues = render("ebay_inventory", product)
    assert item is not None
    assert all(u.startswith("https://") for u in item["image_urls"])  # type: ignore[union-attr]
    issue = only(issues, codes.INSECURE_URL)
    assert (issue.severity, issue.channel, issue.field) == (
        Severity.WARNING, "ebay_inventory", "image_urls")


def test_ebay_product_with_only_http_images_is_left_out() -> None:
    product = kitchen_sink(image_link="http://cdn.example.es/a.jpg", additional_image_link=[])
    item, issues = render("ebay_inventory", product)
    assert item is None
    assert only(issues, codes.INSECURE_URL).severity is Severity.ERROR


def test_ebay_fourteen_digit_gtin_is_not_sent_as_an_ean() -> None:
    item, issues = render("ebay_inventory", kitchen_sink(gtin="18412345678902"))
    assert item is not None and "ean" not in item and "upc" not in item
    issue = only(issues, "gtin-not-accepted")
    assert (issue.severity, issue.channel, issue.field) == (
        Severity.WARNING, "ebay_inventory", "gtin")


@pytest.mark.parametrize("name", ["color", "size", "material", "brand"])
def test_ebay_overlong_aspect_drops_the_aspect_not_the_item(name: str) -> None:
    item, issues = render("ebay_inventory", kitchen_sink(**{name: "y" * 51}))
    assert item is not None
    assert only(issues, codes.VALUE_DROPPED).channel == "ebay_inventory"
    if name == "brand":
        assert item["brand"] == "y" * 51 and "brand_aspect" not in item
    else:
        assert name not in item


# -- text formats -------------------------------------------------------------------------

@pytest.mark.parametrize(("spec_name", "fmt_name"), [("google_merchant", "tsv"),
                                                     ("pinterest_catalog", "csv"),
                                                     ("meta_catalog", "csv")])
def test_an_image_url_with_the_list_separator_stays_one_value(spec_name: str, fmt_name: str,
                                                               tmp_path: Path) -> None:
    from feedsync.config import FeedInfo
    from feedsync.writers import open_writer
    from tests.channel_helpers import parse_output

    spec = load_spec(spec_name)
    fmt = spec.formats[fmt_name]
    images = ["https://cdn.example.es/img/a,b.jpg", "https://cdn.example.es/img/c.jpg"]
    item, _ = render(spec_name, kitchen_sink(additional_image_link=images))
    assert item is not None
    path = tmp_path / f"feed{fmt.extension}"
    writer = open_writer(path, spec, fmt, FeedInfo(), context=run_context(spec))
    writer.write(item)
    writer.commit()
    [row] = parse_output(path, "delimited", fmt.delimiter)
    cell = row["additional_image_link"]
    assert cell.split(fmt.list_separator) == ["https://cdn.example.es/img/a%2Cb.jpg",
                                              "https://cdn.example.es/img/c.jpg"]


# -- OpenAI product feed ------------------------------------------------------------------

OPENAI = {"target_countries": "ES,PT", "store_country": "ES"}


def test_openai_writes_target_countries_store_country_and_seller_url() -> None:
    item, issues = render("openai_products", kitchen_sink(), **OPENAI)
    assert item is not None, issues
    assert item["target_countries"] == ["ES", "PT"]
    assert (item["store_country"], item["seller_url"]) == ("ES", "https://tienda.example.es/")


def test_openai_target_countries_are_a_config_requirement(tmp_path: Path) -> None:
    from feedsync.api import plan_channels
    from feedsync.config import load_config
    from feedsync.errors import ConfigError

    (tmp_path / "m.csv").write_text("id,title\nA,B\n", encoding="utf-8")
    config = tmp_path / "feedsync.yaml"
    config.write_text("source: {path: m.csv}\nchannels:\n  chatgpt:\n"
                      "    spec: openai_products\n    output: c.jsonl\n", encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        plan_channels(load_config(config))
    assert "settings.target_countries" in str(error.value)
    assert "settings.store_country" in str(error.value)


def test_openai_preorder_requires_availability_date() -> None:
    item, issues = render("openai_products", kitchen_sink(availability="preorder"), **OPENAI)
    assert item is None
    issue = only(issues, "missing-required")
    assert (issue.field, issue.channel) == ("availability_date", "openai_products")


def test_openai_sale_price_goes_with_its_dates_and_not_after_they_end() -> None:
    now = current_time()
    running = DateWindow(now - timedelta(days=2), now + timedelta(days=2))
    item, _ = render("openai_products", kitchen_sink(sale_price_effective_date=running),
                     **OPENAI)
    assert item is not None and item["sale_price"] == "14.95 EUR"
    assert "/" in str(item["sale_price_effective_date"])
    over = DateWindow(now - timedelta(days=900), now - timedelta(days=800))
    item, issues = render("openai_products", kitchen_sink(sale_price_effective_date=over),
                          **OPENAI)
    assert item is not None and "sale_price" not in item
    issue = only(issues, codes.OUTSIDE_ITS_WINDOW)
    assert (issue.field, issue.channel, issue.severity) == (
        "sale_price", "openai_products", Severity.INFO)


# -- idealo -------------------------------------------------------------------------------

def test_idealo_flags_offers_it_cannot_match_to_a_product() -> None:
    item, issues = render("idealo", kitchen_sink(brand=None, gtin=None, mpn=None))
    assert item is not None
    flagged = {i.field for i in issues if i.code == "missing-recommended"}
    assert flagged == {"brand", "gtin", "mpn"}
    assert {i.channel for i in issues} == {"idealo"}


def test_idealo_delivery_costs_come_from_the_setting_without_a_shipping_rule() -> None:
    item, issues = render("idealo", kitchen_sink(shipping=[]))
    assert item is None
    assert only(issues, "missing-required").field == "deliveryCosts_standard"
    item, _ = render("idealo", kitchen_sink(shipping=[]), delivery_costs="4.95")
    assert item is not None and item["deliveryCosts_standard"] == "4.95"
    item, _ = render("idealo", kitchen_sink())
    assert item is not None and item["deliveryCosts_standard"] == "3.95"



DESCRIPTIVE_OPTIONAL = ["product_type", "color", "size", "material", "pattern",
                        "custom_label_0", "custom_label_4"]


@pytest.mark.parametrize("spec_name", ["meta_catalog", "microsoft_merchant", "tiktok_catalog"])
@pytest.mark.parametrize("name", DESCRIPTIVE_OPTIONAL)
def test_an_overlong_optional_attribute_is_dropped_not_the_item(spec_name: str,
                                                                 name: str) -> None:
    spec = load_spec(spec_name)
    [field] = [f for f in spec.fields if f.source_field == name]
    assert field.max_length is not None
    item, issues = render(spec_name, kitchen_sink(**{name: "x" * (field.max_length + 1)}))
    assert item is not None and field.name not in item
    issue = only(issues, codes.VALUE_DROPPED)
    assert (issue.field, issue.severity, issue.channel) == (name, Severity.WARNING, spec_name)
    # A value within the limit is written.
    item, issues = render(spec_name, kitchen_sink(**{name: "x" * field.max_length}))
    assert item is not None and field.name in item and not issues


@pytest.mark.parametrize("spec_name", ["meta_catalog", "microsoft_merchant", "tiktok_catalog",
                                       "google_merchant", "pinterest_catalog"])
def test_an_overlong_item_group_id_still_leaves_the_item_out(spec_name: str) -> None:
    # Dropping a variant's group would split it from its siblings: that stays an error.
    item, issues = render(spec_name, kitchen_sink(item_group_id="G" * 200))
    assert item is None and only(issues, codes.TOO_LONG).channel == spec_name


# The columns of idealo's own example feed, in its order (idealo.github.io/csv-importer/
# en/csv, checked 2026-12-02); paymentCosts_paypal, deliveryCosts_dhl and imageUrl are
# documented differences (channel_specs/idealo.yaml).
IDEALO_EXAMPLE_COLUMNS = ["sku", "brand", "title", "categoryPath", "url", "eans",
                          "description", "price", "deliveryTime"]


def test_idealo_columns_follow_idealos_own_example_feed() -> None:
    names = [f.name for f in load_spec("idealo").fields]
    shared = [n for n in names if n in IDEALO_EXAMPLE_COLUMNS]
    assert shared == IDEALO_EXAMPLE_COLUMNS
    # The delivery cost comes before deliveryTime, as in the example.
    assert names.index("deliveryCosts_standard") < names.index("deliveryTime")


def test_meta_flags_a_product_without_a_quantity_to_sell_and_still_lists_it() -> None:
    item, issues = render("meta_catalog", kitchen_sink(quantity=None))
    assert item is not None and "quantity_to_sell_on_facebook" not in item
    issue = only(issues, codes.MISSING_RECOMMENDED)
    assert (issue.field, issue.severity, issue.channel) == (
        "quantity", Severity.INFO, "meta_catalog")
    item, issues = render("meta_catalog", kitchen_sink(quantity=3))
    assert item is not None and item["quantity_to_sell_on_facebook"] == 3 and not issues


def test_tiktok_requires_the_nine_fields_its_catalog_page_names() -> None:
    # ads.tiktok.com/help/article/catalog-product-parameters (last updated February 2025,
    # checked 2026-12-02): "There are 9 required fields"; a missing one is an error.
    required = [f.name for f in load_spec("tiktok_catalog").fields if f.required]
    assert sorted(required) == sorted(["sku_id", "title", "description", "availability",
                                       "condition", "price", "link", "image_link", "brand"])
    item, issues = render("tiktok_catalog", kitchen_sink(brand=None))
    assert item is None and only(issues, codes.MISSING_REQUIRED).channel == "tiktok_catalog"
    item, issues = render("tiktok_catalog", kitchen_sink())
    assert item is not None and not [i for i in issues if i.is_error]


# -- Mercado Libre ------------------------------------------------------------------------

def _ml(**changes: Any) -> Product:
    from tests.channel_helpers import kitchen_sink_for

    return kitchen_sink_for("mercadolibre_items", **changes)


def _ml_body(product: Product, tmp_path: Path, **settings: str) -> dict[str, Any]:
    """The POST /items body the template writes for one product."""
    from feedsync.config import FeedInfo
    from feedsync.writers import open_writer

    spec = load_spec("mercadolibre_items")
    context = run_context(spec)
    context["settings"].update(settings)
    item, issues = ChannelRenderer(spec, "ml", context=context).render(product)
    assert item is not None, issues
    path = tmp_path / "ml.jsonl"
    writer = open_writer(path, spec, spec.formats["jsonl"], FeedInfo(), context=context)
    writer.write(item)
    writer.commit()
    [body] = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return body  # type: ignore[no-any-return]


def _ml_attributes(body: dict[str, Any]) -> dict[str, str]:
    return {a["id"]: a["value_name"] for a in body["attributes"]}


def test_mercadolibre_good_product_passes(tmp_path: Path) -> None:
    item, issues = render("mercadolibre_items", _ml())
    assert item is not None and issues == []
    body = _ml_body(_ml(), tmp_path)
    assert (body["category_id"], body["price"], body["currency_id"]) == (
        "MLM1234", 407.98, "MXN")
    assert (body["available_quantity"], body["condition"], body["listing_type_id"],
            body["buying_mode"]) == (12, "new", "gold_special", "buy_it_now")
    assert body["pictures"][0] == {"source": "https://cdn.tienda.example.es/img/ks-001.jpg"}
    assert _ml_attributes(body) == {"BRAND": "Algodonera", "MODEL": "ALG-KS-001",
                                    "GTIN": "8412345678905", "COLOR": "Azul", "SIZE": "M",
                                    "SELLER_SKU": "KS-001"}
    assert "site_currency" not in body  # a check, not part of the body


@pytest.mark.parametrize(("category", "price"), [
    ("MLA1055", Money(Decimal("15000"), "ARS")), ("MLB1055", Money(Decimal("59.90"), "BRL")),
    ("MLM1234", Money(Decimal("407.98"), "MXN")), ("MLC1051", Money(Decimal("18990"), "CLP")),
    ("MCO1051", Money(Decimal("79900"), "COP")), ("MLU1051", Money(Decimal("890"), "UYU")),
    ("MPE1051", Money(Decimal("79.90"), "PEN")), ("MLA1055", Money(Decimal("19.95"), "USD"))])
def test_mercadolibre_takes_each_sites_currency(category: str, price: Money) -> None:
    product = _ml(price=price, sale_price=None)
    product.extra["ml_category_id"] = category
    item, issues = render("mercadolibre_items", product)
    assert item is not None and not [i for i in issues if i.is_error], issues
    assert item["currency_id"] == price.currency and item["site_currency"] == category[:3]


@pytest.mark.parametrize(("category", "price", "pair"), [
    ("MLM1234", Money(Decimal("19.95"), "EUR"), "MLM EUR"),   # no market: the base currency
    ("MLA1055", Money(Decimal("407.98"), "MXN"), "MLA MXN"),  # another site's currency
    ("1234", Money(Decimal("407.98"), "MXN"), "1234 MXN"),    # not a site's category id
    ("MLX1234", Money(Decimal("407.98"), "MXN"), "MLX MXN"),  # not a site
    ("MLMabc", Money(Decimal("407.98"), "MXN"), "MLMabc MXN")])
def test_mercadolibre_rejects_a_currency_its_site_does_not_take(category: str, price: Money,
                                                                pair: str) -> None:
    product = _ml(price=price, sale_price=None)
    product.extra["ml_category_id"] = category
    item, issues = render("mercadolibre_items", product)
    assert item is None
    issue = only(issues, codes.UNSUPPORTED_VALUE)
    assert (issue.field, issue.value, issue.channel, issue.severity) == (
        "site_currency", pair, "mercadolibre_items", Severity.ERROR)


def test_mercadolibre_listing_type_is_one_mercado_libre_has() -> None:
    item, _ = render("mercadolibre_items", _ml(), listing_type_id="gold_pro")
    assert item is not None and item["listing_type_id"] == "gold_pro"
    item, issues = render("mercadolibre_items", _ml(), listing_type_id="gold_premium")
    assert item is None
    issue = only(issues, codes.UNSUPPORTED_VALUE)
    assert (issue.field, issue.channel) == ("listing_type_id", "mercadolibre_items")
    item, _ = render("mercadolibre_items", _ml(), listing_type_id="")  # unset: the default
    assert item is not None and item["listing_type_id"] == "gold_special"


def test_mercadolibre_title_is_cut_at_60_characters() -> None:
    title = "Camiseta de algodón orgánico de manga corta y cuello redondo color azul"
    item, issues = render("mercadolibre_items", _ml(title=title))
    assert item is not None and len(str(item["title"])) <= 60
    issue = only(issues, codes.TRUNCATED)
    assert (issue.field, issue.channel) == ("title", "mercadolibre_items")


def test_mercadolibre_brand_over_60_characters_leaves_the_product_out() -> None:
    # BRAND is required; its value_max_length is 60 (Mercado Libre's attributes example).
    item, issues = render("mercadolibre_items", _ml(brand="B" * 61))
    assert item is None
    issue = only(issues, codes.TOO_LONG)
    assert (issue.field, issue.channel) == ("brand", "mercadolibre_items")
    item, issues = render("mercadolibre_items", _ml(brand="B" * 60))
    assert item is not None and issues == []


def test_mercadolibre_requires_a_model_from_the_mpn_or_a_column(tmp_path: Path) -> None:
    item, issues = render("mercadolibre_items", _ml(mpn=None))
    assert item is None
    issue = only(issues, codes.MISSING_REQUIRED)
    assert (issue.field, issue.channel) == ("model", "mercadolibre_items")
    product = _ml(mpn=None)
    product.extra["ml_model"] = "Básica"
    assert _ml_attributes(_ml_body(product, tmp_path))["MODEL"] == "Básica"
    item, issues = render("mercadolibre_items", _ml(mpn="M" * 256))
    assert item is None and only(issues, codes.TOO_LONG).field == "model"


def test_mercadolibre_sends_at_most_ten_pictures() -> None:
    images = [f"https://cdn.example.com/{n}.jpg" for n in range(14)]
    item, issues = render("mercadolibre_items", _ml(additional_image_link=images))
    assert item is not None and len(item["pictures"]) == 10
    issue = only(issues, codes.TOO_MANY_VALUES)
    assert (issue.field, issue.severity, issue.channel) == (
        "pictures", Severity.WARNING, "mercadolibre_items")


def test_mercadolibre_condition_is_new_or_used() -> None:
    item, _ = render("mercadolibre_items", _ml(condition="refurbished"))
    assert item is not None and item["condition"] == "used"
    item, _ = render("mercadolibre_items", _ml(condition="used"))
    assert item is not None and item["condition"] == "used"


def test_mercadolibre_price_that_rounds_to_zero_leaves_the_product_out() -> None:
    item, issues = render("mercadolibre_items", _ml(price=Money(Decimal("0"), "CLP")))
    assert item is None
    product = _ml(price=Money(Decimal("0"), "CLP"))
    product.extra["ml_category_id"] = "MLC1051"
    item, issues = render("mercadolibre_items", product)
    assert item is None
    issue = only(issues, codes.INVALID_PRICE)
    assert (issue.field, issue.severity, issue.channel) == (
        "price", Severity.ERROR, "mercadolibre_items")


def test_mercadolibre_quantity_is_a_whole_number_of_zero_or_more() -> None:
    item, issues = render("mercadolibre_items", _ml(quantity=-2))
    assert item is None
    issue = only(issues, codes.NEGATIVE_QUANTITY)
    assert (issue.field, issue.value, issue.severity, issue.channel) == (
        "quantity", "-2", Severity.ERROR, "mercadolibre_items")
    item, issues = render("mercadolibre_items", _ml(quantity=0))
    assert item is not None and item["available_quantity"] == 0 and issues == []
    item, issues = render("mercadolibre_items", _ml(quantity=None))
    assert item is None and only(issues, codes.MISSING_REQUIRED).field == "available_quantity"


@pytest.mark.parametrize("availability", ["out_of_stock", "discontinued"])
@pytest.mark.parametrize("quantity", [8, None, -1])
def test_mercadolibre_sends_no_stock_for_a_product_that_cannot_be_bought(
        availability: str, quantity: int | None) -> None:
    # channel-specs.md §12.2: out_of_stock -> available_quantity 0 (whatever the column says).
    item, issues = render("mercadolibre_items",
                          _ml(availability=availability, quantity=quantity))
    assert item is not None and item["available_quantity"] == 0 and issues == []


def test_mercadolibre_flags_a_product_without_gtin_or_empty_gtin_reason(
        tmp_path: Path) -> None:
    item, issues = render("mercadolibre_items", _ml(gtin=None))
    assert item is not None  # flagged, still written: the category decides
    issue = only(issues, codes.MISSING_GTIN)
    assert (issue.severity, issue.channel) == (Severity.WARNING, "mercadolibre_items")
    assert "GTIN" not in _ml_attributes(_ml_body(_ml(gtin=None), tmp_path))
    product = _ml(gtin=None)
    product.extra["ml_empty_gtin_reason"] = "El producto no tiene código registrado"
    item, issues = render("mercadolibre_items", product)
    assert item is not None and issues == []
    attributes = _ml_attributes(_ml_body(product, tmp_path))
    assert attributes["EMPTY_GTIN_REASON"] == "El producto no tiene código registrado"
    assert "GTIN" not in attributes
    # A product with a GTIN sends the GTIN, never a reason for not having one.
    product = _ml()
    product.extra["ml_empty_gtin_reason"] = "El producto no tiene código registrado"
    attributes = _ml_attributes(_ml_body(product, tmp_path))
    assert "GTIN" in attributes and "EMPTY_GTIN_REASON" not in attributes


# -- optional attributes over their limit: the attribute is left out, not the item -------

# (spec, canonical field or master column, the product's other changes, settings)
OVERLONG_OPTIONAL: list[tuple[str, str, dict[str, Any], dict[str, str]]] = [
    ("amazon_listings", "asin", {}, AMAZON),
    ("amazon_listings", "mpn", {}, AMAZON),
    ("amazon_listings", "color", {}, AMAZON),
    ("ebay_inventory", "brand", {}, {}),
    ("ebay_inventory", "mpn", {}, {}),
    ("google_merchant", "gtin", {}, {}),
    ("google_merchant", "brand", {"google_product_category": "784"}, {}),  # a book
    ("meta_catalog", "gtin", {}, {}),
    ("meta_catalog", "brand", {}, {}),
    ("meta_catalog", "mpn", {}, {}),
    ("microsoft_merchant", "brand", {}, {}),
    ("microsoft_merchant", "gtin", {}, {}),
    ("tiktok_catalog", "gtin", {}, {}),
]


@pytest.mark.parametrize(("spec_name", "name", "changes", "settings"), OVERLONG_OPTIONAL)
def test_an_overlong_optional_identifier_is_dropped_with_a_warning(
        spec_name: str, name: str, changes: dict[str, Any], settings: dict[str, str]) -> None:
    fields = load_spec(spec_name).fields
    [field] = [f for f in fields if f.name == name] or [
        f for f in fields if f.source_field == name]
    assert field.max_length is not None and not field.required

    def product(value: str) -> Product:
        made = kitchen_sink(**changes)
        if hasattr(made, name):
            setattr(made, name, value)
        else:
            made.extra[name] = value
        return made

    item, issues = render(spec_name, product("8" * (field.max_length + 1)), **settings)
    assert item is not None, issues
    assert field.name not in item
    dropped = [i for i in issues if i.code == codes.VALUE_DROPPED]  # eBay: brand and aspect
    assert dropped and {(i.field, i.severity, i.channel) for i in dropped} == {
        (name, Severity.WARNING, spec_name)}
    assert not [i for i in issues if i.is_error]
    # Within the limit the value is written (eBay's 50-character Brand aspect aside).
    item, issues = render(spec_name, product("8" * field.max_length), **settings)
    assert item is not None and field.name in item and not [i for i in issues if i.is_error]


@pytest.mark.parametrize(("spec_name", "changes", "code", "settings"), [
    # A new product needs a brand on Google: with it dropped, the product is still left out.
    ("google_merchant", {"brand": "B" * 71}, codes.MISSING_REQUIRED, {}),
    # Meta needs one of brand, gtin, mpn: the dropped brand was the only one.
    ("meta_catalog", {"brand": "B" * 101, "gtin": None, "mpn": None},
     codes.MISSING_REQUIRED, {}),
    # Amazon needs a GTIN, an ASIN or an exemption: the dropped ASIN was the only one.
    ("amazon_listings", {"gtin": None, "extra": {"asin": "B0ABCDEF123"}},
     codes.MISSING_IDENTIFIER, AMAZON),
])
def test_a_dropped_identifier_the_channel_needs_still_leaves_the_product_out(
        spec_name: str, changes: dict[str, Any], code: str, settings: dict[str, str]) -> None:
    item, issues = render(spec_name, kitchen_sink(**changes), **settings)
    assert item is None
    assert only(issues, codes.VALUE_DROPPED).severity is Severity.WARNING
    assert only(issues, code).channel == spec_name


def test_no_optional_text_attribute_leaves_the_item_out_for_its_length() -> None:
    # Every spec: an optional text attribute over its limit is dropped or cut, never an
    # error, except item_group_id (a variant left without its group would be listed as a
    # different product). Lists already drop only their overlong values.
    from feedsync.channels.loader import available_specs

    errors = [(name, f.name) for name in sorted(available_specs())
              for f in load_spec(name).fields
              if f.max_length and not f.required and f.format != "list"
              and f.too_long == "error" and f.source_field != "item_group_id"]
    assert errors == []


def test_idealo_overlong_description_is_cut_and_the_offer_goes_out() -> None:
    item, issues = render("idealo", kitchen_sink(description="Algodón orgánico. " * 80))
    assert item is not None and len(str(item["description"])) <= 1000
    issue = only(issues, codes.TRUNCATED)
    assert (issue.field, issue.severity, issue.channel) == (
        "description", Severity.WARNING, "idealo")


@pytest.mark.parametrize(("spec_name", "name", "settings"), [
    ("openai_products", "color", OPENAI), ("openai_products", "material", OPENAI),
    ("openai_products", "mpn", OPENAI), ("idealo", "color", {}), ("idealo", "material", {}),
    ("mercadolibre_items", "color", {}), ("mercadolibre_items", "size", {})])
def test_an_attribute_without_a_confirmed_limit_goes_out_as_it_is(
        spec_name: str, name: str, settings: dict[str, str]) -> None:
    # No limit is confirmed for these optional attributes (channel_specs/README.md), so
    # none is enforced: a long value is written, and the product goes out.
    from tests.channel_helpers import kitchen_sink_for

    value = "Azul marino con detalles " * 12
    item, issues = render(spec_name, kitchen_sink_for(spec_name, **{name: value}),
                          **settings)
    assert item is not None and value in item.values()
    assert not [i for i in issues if i.severity is not Severity.INFO]

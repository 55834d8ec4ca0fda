"""Each channel's own published rules (issue 11): a product built to break one rule is left
out, cleaned or warned about with the right code and channel, and a good one still passes;
the specs agree with the channels' machine-readable schemas where they publish one."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from feedsync.channels.loader import load_spec
from feedsync.channels.render import ChannelRenderer, Item
from feedsync.checks import codes
from feedsync.checks.issue import Issue, Severity
from feedsync.products.product import Money, Product, Shipping
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
    soon = datetime.now(timezone.utc) + timedelta(days=20)
    item, _ = render("google_merchant",
                     kitchen_sink(availability="backorder", availability_date=soon))
    assert item is not None


def test_google_availability_date_at_most_a_year_ahead() -> None:
    later = datetime.now(timezone.utc) + timedelta(days=400)
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

"""Canonical parsing never lets one channel's need remove a product from every channel,
and repairs text debris the channels would reject, saying so (issue 11)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from feedsync.channels.loader import available_specs, load_spec
from feedsync.channels.render import ChannelRenderer
from feedsync.checks import codes
from feedsync.checks.issue import Severity
from feedsync.products.parse import ESSENTIAL_FIELDS
from tests.channel_helpers import run_context
from tests.test_parse import parse


@pytest.mark.parametrize("weight", ["3 kgs", "3 Kilos", "3kg."])
def test_common_spellings_of_kilograms_are_read(weight: str) -> None:
    product, issues = parse({"shipping_weight": weight})
    assert product is not None and issues == []
    assert (product.shipping_weight.value, product.shipping_weight.unit) == (Decimal(3), "kg")


def test_an_unreadable_weight_is_left_out_and_the_product_kept() -> None:
    product, issues = parse({"shipping_weight": "3 stones"})
    assert product is not None
    assert product.shipping_weight is None
    [issue] = issues
    assert (issue.code, issue.severity, issue.field) == (
        "invalid-weight", Severity.WARNING, "shipping_weight")
    assert "'stones' is not a unit" in issue.message


def test_a_negative_shipping_price_is_flagged_and_only_the_shipping_left_out() -> None:
    product, issues = parse({"shipping": "ES::Standard:-4.95 EUR"})
    assert product is not None and product.shipping == []
    [issue] = issues
    assert (issue.code, issue.severity) == ("invalid-shipping", Severity.WARNING)
    assert "negative" in issue.message


@pytest.mark.parametrize(("text", "clean"), [
    ("Black amp; Decker taladro", "Black & Decker taladro"),
    ("Primera línea#xD; segunda", "Primera línea segunda"),
])
def test_double_escaped_entity_debris_is_repaired_with_a_warning(text: str, clean: str) -> None:
    product, issues = parse({"title": text})
    assert product is not None and product.title == clean
    assert [i.code for i in issues] == [codes.ENTITY_DEBRIS]


def test_characters_channels_reject_are_removed_with_a_warning() -> None:
    product, issues = parse({"title": "Caf\ufffd con leche \ue000"})
    assert product is not None and product.title == "Caf con leche"
    assert [i.code for i in issues] == [codes.INVALID_CHARACTERS]


def test_plain_text_with_a_semicolon_is_left_alone() -> None:
    product, issues = parse({"title": "Lámpara; modelo 2"})
    assert product is not None and product.title == "Lámpara; modelo 2" and issues == []


def test_a_price_with_guessed_thousands_separators_says_how_it_was_read() -> None:
    product, issues = parse({"price": "1,075.00 HRK"})
    assert product is not None and product.price.amount == Decimal("1075.00")
    [issue] = issues
    assert (issue.code, issue.severity, issue.field) == (
        codes.THOUSANDS_SEPARATOR, Severity.WARNING, "price")


def test_a_declared_locale_reads_thousands_separators_silently() -> None:
    product, issues = parse({"price": "1.249,00 EUR"}, locale="es_ES")
    assert product is not None and product.price.amount == Decimal("1249.00")
    assert issues == []


# -- a field problem removes the product only from the channels that need the field -----

def _render(spec_name: str, product: Any) -> tuple[Any, list[Any]]:
    spec = load_spec(spec_name)
    return ChannelRenderer(spec, spec_name, context=run_context(spec)).render(product)


def test_an_invalid_gtin_leaves_only_channels_that_need_one() -> None:
    product, issues = parse({"gtin": "8412345678901", "quantity": "3"})
    assert product is not None and product.gtin is None
    assert [(i.code, i.severity, i.field) for i in issues] == [
        ("invalid-gtin", Severity.WARNING, "gtin")]
    amazon_item, amazon_issues = _render("amazon_listings", product)
    assert amazon_item is None
    missing = [i for i in amazon_issues if i.code == codes.MISSING_IDENTIFIER]
    assert [(i.field, i.channel) for i in missing] == [("gtin", "amazon_listings")]
    google_item, google_issues = _render("google_merchant", product)
    assert google_item is not None and not [i for i in google_issues if i.is_error]


def test_an_unreadable_availability_date_leaves_only_channels_that_need_it() -> None:
    product, issues = parse({"availability": "preorder", "availability_date": "next spring"})
    assert product is not None and product.availability_date is None
    [issue] = issues
    assert (issue.code, issue.severity, issue.field) == (
        "invalid-date", Severity.WARNING, "availability_date")
    assert "only channels that need availability_date" in issue.message
    google_item, google_issues = _render("google_merchant", product)
    assert google_item is None
    missing = [i for i in google_issues if i.code == codes.MISSING_REQUIRED]
    assert [(i.field, i.channel) for i in missing] == [("availability_date", "google_merchant")]
    pinterest_item, pinterest_issues = _render("pinterest_catalog", product)
    assert pinterest_item is not None and not [i for i in pinterest_issues if i.is_error]


@pytest.mark.parametrize(("cells", "code"), [
    ({"link": "www.example.com/p/1"}, "invalid-url"),
    ({"availability": "Disponible"}, "invalid-value"),
    ({"quantity": "three"}, "invalid-number"),
    ({"price": "free"}, "invalid-price"),
    ({"price": "9.999 EUR"}, "too-many-decimals"),
])
def test_other_unreadable_optional_fields_keep_the_product(cells: dict[str, str],
                                                            code: str) -> None:
    product, issues = parse(cells)
    assert product is not None
    [issue] = issues
    assert (issue.code, issue.severity) == (code, Severity.WARNING)
    [name] = cells
    assert getattr(product, name) is None


def test_an_unreadable_value_is_not_replaced_by_the_default() -> None:
    # The warning says the value is left out: a default must not silently stand in for
    # what the merchant wrote (a garbled availability is not "in stock").
    product, _ = parse({"availability": "Disponible"}, defaults={"availability": "in_stock"})
    assert product is not None and product.availability is None
    product, _ = parse({"availability": ""}, defaults={"availability": "in_stock"})
    assert product is not None and product.availability == "in_stock"


@pytest.mark.parametrize(("cells", "code"), [
    ({"sale_price": "9.99 EUR", "sale_price_effective_date": "soon"}, "invalid-date"),
    ({"sale_price": "9.99 EUR",
      "sale_price_effective_date": "2026-12-20/2026-12-01"}, "invalid-sale-window"),
    ({"sale_price": "9.99 USD"}, "currency-mismatch"),
    ({"sale_price": "cheap"}, "invalid-price"),
])
def test_a_sale_that_cannot_be_used_is_left_out_and_the_product_kept(
        cells: dict[str, str], code: str) -> None:
    product, issues = parse(cells)
    assert product is not None
    assert (product.sale_price, product.sale_price_effective_date) == (None, None)
    [issue] = issues
    assert (issue.code, issue.severity) == (code, Severity.WARNING)
    assert "sale price and its dates are left out" in issue.message


def test_an_unreadable_price_leaves_out_only_channels_that_need_a_price() -> None:
    # eBay's inventory items carry no price (it is on the offer): the product stays there.
    product, _ = parse({"price": "free", "condition": "new", "quantity": "2"})
    assert product is not None and product.price is None
    google_item, google_issues = _render("google_merchant", product)
    assert google_item is None
    assert [i.field for i in google_issues if i.code == codes.MISSING_REQUIRED] == ["price"]
    ebay_item, ebay_issues = _render("ebay_inventory", product)
    assert ebay_item is not None and not [i for i in ebay_issues if i.is_error]


def test_an_unreadable_id_still_removes_the_product() -> None:
    product, issues = parse({"id": "a\x07b"})
    assert product is None and [(i.code, i.severity) for i in issues] == [
        ("invalid-id", Severity.ERROR)]


def test_essential_fields_are_exactly_what_every_channel_requires() -> None:
    # ESSENTIAL_FIELDS removes a product from every channel: right only for fields every
    # built-in spec requires, and anything every spec requires belongs there.
    required_by_all = set.intersection(*(
        {f.source_field for f in load_spec(name).fields if f.required}
        for name in available_specs()))
    assert required_by_all == set(ESSENTIAL_FIELDS)

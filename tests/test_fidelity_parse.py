"""Canonical parsing never lets one channel's need remove a product from every channel,
and repairs text debris the channels would reject, saying so (issue 11)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from feedsync.checks import codes
from feedsync.checks.issue import Severity
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

"""Canonical validation: each check produces an Issue with its code, row, field and value."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedsync.config import SourceConfig
from feedsync.errors import ConfigError
from feedsync.products.parse import RowParser
from feedsync.products.product import Money
from feedsync.sources.base import SourceRow
from feedsync.sources.csv import CsvSource
from tests.conftest import DATA

HEADER = ["id", "title", "description", "link", "image_link", "price", "availability",
          "brand", "gtin"]
GOOD = {"id": "SKU-1", "title": "Lamp", "description": "A lamp",
        "link": "https://shop.example.com/p/1", "image_link": "https://shop.example.com/i/1.jpg",
        "price": "19.99 EUR", "availability": "in_stock", "brand": "Acme", "gtin": ""}


def parser(header=HEADER, **config):
    config.setdefault("path", "x.csv")
    return RowParser(SourceConfig(**config), list(header), "x.csv")


def parse(cells=None, **config):
    data = GOOD | (cells or {})
    return parser(list(data), **config).parse(SourceRow(7, data))


def codes(issues):
    return sorted(i.code for i in issues)


def test_a_good_row_becomes_a_typed_product():
    product, issues = parse()
    assert issues == []
    assert product.price == Money(Decimal("19.99"), "EUR")
    assert product.row == 7
    assert product.identifier_exists is False  # no GTIN and no MPN: derived


@pytest.mark.parametrize(("gtin", "fragment"), [
    ("4006381333932", "check digit"),
    ("12345", "has 5 digits"),
    ("4.00638E+12", "spreadsheet"),
    ("2000000000008", "store-internal"),
    ("ABC4006381333", "only digits"),
    ("0000000000000", "placeholder"),
    ("1234567890128", "placeholder"),
    ("0512345000107", "coupon"),
    ("9812345678902", "coupon"),
    ("94006381333934", "variable-measure"),
])
def test_bad_gtins_are_left_out_with_a_warning_and_a_reason(gtin, fragment):
    product, issues = parse({"gtin": gtin})
    # The product stays in the canonical record without its GTIN: only a channel that
    # needs one leaves it out (with its own issue).
    assert product is not None and product.gtin is None
    [issue] = issues
    assert (issue.code, issue.field, issue.row, issue.value) == ("invalid-gtin", "gtin", 7, gtin)
    assert issue.severity.value == "warning"
    assert fragment in issue.message and "left out" in issue.message
    # A product with an unreadable GTIN has one, so identifier_exists is not said to be no.
    assert product.identifier_exists is None


@pytest.mark.parametrize("gtin", ["40063813339\u00b23", "400638133393\u00b2", "\u2460006381333931"])
def test_a_gtin_with_digits_int_refuses_is_a_warning_not_a_crash(gtin):
    # str.isdigit() passes superscripts and circled digits; int() does not (exit 70 once).
    product, issues = parse({"gtin": gtin})
    assert product is not None and product.gtin is None
    assert [(i.code, i.value) for i in issues] == [("invalid-gtin", gtin)]


def test_a_gtin_in_another_scripts_digits_is_written_in_ascii_digits():
    arabic_indic = "".join(chr(0x0660 + int(d)) for d in "4006381333931")
    full_width = "".join(chr(0xFF10 + int(d)) for d in "4006381333931")
    for gtin in (arabic_indic, full_width):
        product, issues = parse({"gtin": gtin})
        assert (product.gtin, issues) == ("4006381333931", [])


def test_a_shipping_time_int_refuses_is_left_unsaid_not_a_crash():
    product, issues = parse({"shipping": "ES::Standard:4.95 EUR:1:\u00b2"})
    assert issues == []
    [rule] = product.shipping
    assert (rule.min_handling_time, rule.max_handling_time) == (1, None)


def test_good_gtins_and_isbn10_conversion():
    product, _ = parse({"gtin": "4006381333931"})
    assert product.gtin == "4006381333931"
    assert product.identifier_exists is None
    product, issues = parse({"gtin": "0-306-40615-2"})
    assert product.gtin == "9780306406157"
    assert codes(issues) == ["isbn10-converted"]


@pytest.mark.parametrize(("price", "code"), [
    ("0 EUR", "invalid-price"),
    ("-5 EUR", "invalid-price"),
    ("abc", "invalid-price"),
    ("12.345 EUR", "too-many-decimals"),
    ("1500.5 JPY", "too-many-decimals"),
    ("15 XYZ", "invalid-currency"),
])
def test_bad_prices_are_left_out_with_a_warning(price, code):
    product, issues = parse({"price": price})
    # Only channels that need a price leave the product out (eBay's inventory items
    # carry none).
    assert product is not None and product.price is None
    assert codes(issues) == [code] and issues[0].severity.value == "warning"


def test_a_price_without_currency_needs_a_default():
    product, issues = parse({"price": "10"})
    assert product.price is None and codes(issues) == ["missing-currency"]
    product, issues = parse({"price": "10"}, defaults={"currency": "EUR"})
    assert product.price == Money(Decimal("10"), "EUR")


def test_locale_prices():
    product, _ = parse({"price": "1.234,56"}, locale="es_ES", defaults={"currency": "EUR"})
    assert product.price.amount == Decimal("1234.56")


@pytest.mark.parametrize("url", ["ftp://x.example.com/a", "/relative/path", "www.example.com",
                                 "https://"])
def test_links_must_be_absolute_http(url):
    product, issues = parse({"link": url})
    assert codes(issues) == ["invalid-url"] and issues[0].severity.value == "warning"
    assert product is not None and product.link is None


def test_urls_with_spaces_are_encoded():
    product, _ = parse({"image_link": "https://shop.example.com/i/my lamp ñ.jpg"})
    assert product.image_link == "https://shop.example.com/i/my%20lamp%20%C3%B1.jpg"


def test_enums_accept_synonyms_and_user_value_maps():
    product, _ = parse({"availability": "In Stock"})
    assert product.availability == "in_stock"
    product, issues = parse({"availability": "Disponible"})
    assert codes(issues) == ["invalid-value"] and product.availability is None
    assert "source.values.availability" in issues[0].message
    product, _ = parse({"availability": "disponible"},
                       values={"availability": {"Disponible": "in_stock"}})
    assert product.availability == "in_stock"


def test_value_maps_must_target_canonical_enum_values():
    with pytest.raises(ValueError, match="must map to one of"):
        SourceConfig(path="x.csv", values={"availability": {"Disponible": "available"}})


def test_html_and_control_characters_are_cleaned_with_warnings():
    product, issues = parse({"description": "<p>Great &amp; cheap</p><ul><li>one</li></ul>",
                             "title": "Bell\x07 lamp"})
    assert product.description == "Great & cheap\n- one"
    assert product.title == "Bell lamp"
    assert codes(issues) == ["control-characters", "html-in-text"]
    assert all(i.severity.value == "warning" for i in issues)


def test_missing_id_is_an_error_without_a_product():
    product, issues = parse({"id": "  "})
    assert product is None and codes(issues) == ["missing-id"]


def test_sale_price_window_from_two_columns():
    product, _ = parse({"sale_price": "9.99 EUR", "start": "01/11/2026", "end": "30/11/2026"},
                       locale="es_ES", timezone="Europe/Madrid",
                       columns={"sale_price_start": "start", "sale_price_end": "end"})
    window = product.sale_price_effective_date
    assert (window.start.day, window.end.day, window.end.hour) == (1, 30, 23)
    assert window.start.utcoffset().total_seconds() == 3600


def test_sale_price_not_lower_is_dropped_with_a_warning():
    product, issues = parse({"sale_price": "25 EUR"})
    assert product.sale_price is None
    assert codes(issues) == ["sale-price-not-lower"]


def test_shipping_with_decimal_commas_and_several_groups():
    product, _ = parse({"shipping": "ES::Estándar:3,95 EUR, PT:Lisboa:Express:7,50 EUR:1:2"},
                       locale="es_ES")
    first, second = product.shipping
    assert (first.country, first.service, first.price.amount) == ("ES", "Estándar",
                                                                  Decimal("3.95"))
    assert (second.region, second.min_handling_time) == ("Lisboa", 1)


def test_unmapped_columns_are_kept_as_extra():
    product, _ = parse({"season": "SS27"})
    assert product.extra == {"season": "SS27"}


def test_a_mapped_column_missing_from_the_header_is_a_config_error():
    with pytest.raises(ConfigError, match="has no column 'Nombre' \\(for title\\)"):
        parser(HEADER, columns={"title": "Nombre"})


def test_images_column_splits_into_main_and_additional():
    product, _ = parse({"pics": "https://a.example.com/1.jpg, https://a.example.com/2.jpg|"
                                "https://a.example.com/3.jpg"}, columns={"images": "pics"})
    assert product.image_link == "https://shop.example.com/i/1.jpg"  # own column wins
    product, _ = parse({"pics": "https://a.example.com/1.jpg, https://a.example.com/2.jpg"},
                       columns={"images": "pics", "id": "id"})
    assert product.additional_image_link == ["https://a.example.com/2.jpg"]


def test_bad_gtins_corpus_reports_each_row():
    source = CsvSource(DATA / "bad_gtins.csv")
    row_parser = RowParser(SourceConfig(path="bad_gtins.csv"), source.columns, source.name)
    results = [row_parser.parse(r) for r in source.rows()]
    bad_rows = [issues[0].row for product, issues in results
                if product is not None and product.gtin is None]
    assert bad_rows == [2, 3, 4, 5, 6]
    assert all(product is not None for product, _ in results)
    assert results[5][0].gtin == "4006381333931"
    assert results[6][0].gtin == "9780306406157"


def test_an_id_built_by_a_template_is_the_product_id():
    product, issues = parse({"sku": "42"}, columns={"id": "SHOP-{{ sku }}"})
    assert issues == [] and product.id == "SHOP-42"


@pytest.mark.parametrize("text", [
    "plain", "two  spaces", "tab\there", "line\nbreak", "nbsp\u00a0x", "ctrl\x07", "<b>x</b>",
    "a &amp; b", "a & b", "x < y", "em\u2003space", "zero\u200bwidth", "ñandú café",
])
def test_needs_cleaning_shortcut_agrees_with_the_full_pattern(text):
    from feedsync.checks.text import _NEEDS_CLEANING, needs_cleaning

    assert needs_cleaning(text) == (_NEEDS_CLEANING.search(text) is not None)


_DEBRIS_ALPHABET = "amp;quotslgnbx#xXdDaA0139&_ \n<>é"


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet=_DEBRIS_ALPHABET, max_size=40)
       | st.sampled_from(["a amp; b", "line#xD;", "x&amp;y", "#x10FFFF;", "#1234567;",
                          "é#9;", "&#9;", " #13;", "nbsp;", "lt;gt;", ";;amp;"]))
def test_entity_debris_windowed_search_agrees_with_the_whole_pattern(text):
    from feedsync.checks.text import _ENTITY_DEBRIS, has_entity_debris

    assert has_entity_debris(text) == (_ENTITY_DEBRIS.search(text) is not None)

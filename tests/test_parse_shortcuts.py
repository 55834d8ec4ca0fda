"""The parser's shortcuts agree with the general path they skip, on many values.

Each shortcut (the inline tests of the generated parse_fields, the simple-markup
strip_html, the plain GTIN, the `0.5 kg` weight, the dotted decimal, the generated
Product builder) is compared with the code it stands in for: a parser whose shortcuts are
switched off, or the old function kept here as the reference.
"""

from __future__ import annotations

import random
import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import isbn

from feedsync.checks import codes
from feedsync.checks.text import (
    _SIMPLE_TAG_TEXT,
    strip_html,
    strip_html_by_regex,
    strip_simple_html,
)
from feedsync.config import SourceConfig
from feedsync.products import numbers
from feedsync.products.numbers import NumberFormatError, parse_decimal
from feedsync.products.parse import (
    _GTIN_SEPARATORS,
    _RESTRICTED_GTIN,
    _RESTRICTED_PREFIXES,
    _SCIENTIFIC,
    FieldProblem,
    RowParser,
    gs1_check_digit,
)
from feedsync.products.product import Product
from feedsync.sources.base import SourceRow

# -- strip_html ---------------------------------------------------------------------------

_TAGS = [f"<{name}>" for name in _SIMPLE_TAG_TEXT] + [
    "<P>", "<script>", "</script>", "<style>", "<li class=x>", "<br >", "<a href='/'>",
    "</a>", "<", ">", "<<p>", "<!-- c -->", "<p", "< p>", "<li", "</ li>", "<brx>"]
_WORDS = ["a", "bc", " ", "  ", "\n", "\t", "\u00a0", "&amp;", "&nbsp;", "&lt;p&gt;", "&#10;",
          "&#x41;", "&", ";", "ñ", "-", ".", "amp;", "x"]


def test_each_simple_tag_reads_as_the_regexes_read_it() -> None:
    for name in _SIMPLE_TAG_TEXT:
        for text in (f"a<{name}>b", f"<{name}>", f" x <{name}> y ", f"<{name}><{name}>z"):
            assert strip_simple_html(text) == strip_html_by_regex(text), text


def test_simple_markup_shortcut_agrees_with_the_regexes() -> None:
    rng = random.Random(11)
    alphabet = _TAGS + _WORDS
    for _ in range(60_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12)))
        assert strip_html(text) == strip_html_by_regex(text), text
        simple = strip_simple_html(text)
        assert simple is None or simple == strip_html_by_regex(text), text


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_TAGS + _WORDS) | st.text(max_size=3), max_size=10))
def test_simple_markup_shortcut_agrees_on_any_text(parts: list[str]) -> None:
    text = "".join(parts)
    assert strip_html(text) == strip_html_by_regex(text)


def test_the_shortcut_takes_a_typical_shop_description() -> None:
    text = ("<p>Soft <strong>cotton</strong> tee.</p><ul><li>Machine wash &amp; dry</li>"
            "<li>100% cotton</li></ul>")
    assert strip_simple_html(text) == strip_html_by_regex(text) == (
        "Soft cotton tee.\n- Machine wash & dry\n- 100% cotton")
    assert strip_simple_html("<p class='x'>a</p>") is None
    assert strip_simple_html("no markup") is None


# -- the generated parse_fields and Product builder ---------------------------------------

HEADER = ["id", "title", "description", "link", "image_link", "additional_image_link",
          "price", "sale_price", "quantity", "gtin", "shipping_weight", "brand", "shipping",
          "availability", "extra_col"]


def _parsers(**config: Any) -> tuple[RowParser, RowParser]:
    """A parser as built, and one whose shortcuts are off (the converters do it all)."""
    config.setdefault("path", "x.csv")
    config.setdefault("defaults", {"currency": "EUR", "condition": "new"})
    fast = RowParser(SourceConfig(**config), list(HEADER), "x.csv")
    slow = RowParser(SourceConfig(**config), list(HEADER), "x.csv")
    slow._shortcut = lambda convert: None  # type: ignore[method-assign]
    slow._parse_fields = slow._compile_fields()
    slow._product = lambda values, row, extra: Product(row=row, extra=extra, **values)
    return fast, slow


def _outcome(parser: RowParser, data: dict[str, str | None]) -> tuple[Any, list[Any]]:
    product, issues = parser.parse(SourceRow(5, dict(data)))
    return product, [(i.code, i.severity, i.message, i.row, i.product_id, i.field, i.value,
                      i.channel, i.column) for i in issues]


_CELLS: dict[str, list[str | None]] = {
    "id": ["SKU-1", " SKU-2 ", "SK\x07U", "", None, "ñ-1", "a\u00a0b"],
    "title": ["Lamp", "Lamp  big", "<b>Lamp</b>", "Lamp &amp; co", "Lamp;", "L\ufffd",
              "Lámpara", "a\tb", "a\nb", " Lamp ", "amp; x"],
    "description": ["<p>Soft <b>tee</b></p>", "plain", "<p>a &amp; b</p><ul><li>x</li></ul>",
                    "<p>a\x07b</p>", "<p>amp; b</p>", "<P>a</P>", "<p>a</p>\n<p>b</p>",
                    "<p>a&nbsp;b</p>", "a < b <p>c</p>", "<p>\ufffd</p>", "<br/>x<br />y"],
    "link": ["https://shop.example.com/p/1", "http://shop.example.com", "HTTPS://x.com/",
             "https:///p", "https://", "ftp://x.com", "https://x.com/a b", "https://ñ.com",
             "https://-x.com", "https://x.com/\x07", "https://[::1]/p", "/p/1"],
    "additional_image_link": ["https://c.example.com/1.jpg|https://c.example.com/2.jpg",
                              "https://c.example.com/1.jpg", "https://a.com||https://b.com",
                              "https://a.com|ftp://b.com", "https://a.com, https://b.com",
                              "https://a.com|HTTP://b.com", "|https://a.com", "https://a.com|",
                              "https://a.com|https://", "https://a.com|https://b.com/ñ"],
    "price": ["19.99", "20", "0", "0.00", "19.999", "1.234,56", "19.99 EUR", "12,5 €",
              "1234567890123456", "١٢", "-5", "19.9", "007.50", "USD 3", "1e5"],
    "sale_price": ["9.99", "", "25", "9.999", "9.99 USD"],
    "quantity": ["110", "0", "007", "1.5", "1,000", "١٢", "1234567890123456", "-3", "10.0"],
    "gtin": ["5580764786570", "4006381333931", "96385074", "036000291452", "0123456789012",
             "5580764786571", "0306406152", "978-0-306-40615-7", "1.23E+12", "٥٥٨٠٧٦٤٧٨٦٥٧٠",
             "2000000000008", "99999999999994", "19012345678905", "00000000000000",
             "1234567890128", "12345678", "²²²", "40063813339310"],
    "shipping_weight": ["0.074 kg", "1.914 kg", "3 kgs", "2 lb", "0.5 KG", "1,5 kg", "1.234 g",
                        "1.2.3 kg", "0. kg", ". kg", "5", "5 parsecs", "0.5kg", "1.23456789 oz"],
    "brand": ["Acme", "Acme  Co", " Acme ", None],
    "shipping": ["ES::Standard:4.95 EUR", "ES::Standard:4.95", "bad"],
    "availability": ["instock", "in stock", "nope"],
    "extra_col": ["x", "", None],
}


def test_every_listed_cell_parses_as_the_converters_parse_it() -> None:
    for locale in (None, "es_ES", "de_CH"):
        fast, slow = _parsers(locale=locale)
        base = {name: values[0] for name, values in _CELLS.items()}
        for name, values in _CELLS.items():
            for value in values:
                data = base | {name: value}
                assert _outcome(fast, data) == _outcome(slow, data), (locale, name, value)


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({name: st.sampled_from(values) | st.text(max_size=8)
                              for name, values in _CELLS.items()}))
def test_any_row_parses_as_the_converters_parse_it(data: dict[str, str | None]) -> None:
    fast, slow = _parsers()
    # Twice: the second time through the memos.
    assert _outcome(fast, data) == _outcome(slow, data)
    assert _outcome(fast, data) == _outcome(slow, data)


def test_memoised_lists_are_fresh_lists_for_each_product() -> None:
    fast, _ = _parsers()
    data = {name: values[0] for name, values in _CELLS.items()}
    first, _ = fast.parse(SourceRow(2, dict(data)))
    second, _ = fast.parse(SourceRow(3, dict(data)))
    assert first is not None and second is not None
    assert first.shipping == second.shipping and first.shipping is not second.shipping
    assert type(first.shipping) is list


def test_a_mapping_the_builder_cannot_take_keeps_the_keyword_call() -> None:
    fast, _ = _parsers(columns={"currency": "price"})
    product, _ = fast.parse(SourceRow(2, {"id": "A", "title": "T", "price": "EUR"}))
    assert product is not None and product.id == "A"


# -- GTINs, weights, dotted decimals ------------------------------------------------------

def _reference_gtin(raw: str) -> str:
    """RowParser._gtin before its shortcut, whole."""
    if _SCIENTIFIC.match(raw):
        raise FieldProblem(codes.INVALID_GTIN, "scientific")
    digits = raw if raw.isdigit() else _GTIN_SEPARATORS.sub("", raw)
    if not digits.isascii() and digits.isdecimal():
        digits = "".join(str(int(char)) for char in digits)
    if len(digits) == 10 and isbn.is_valid(digits):
        digits = isbn.to_isbn13(digits).replace("-", "")
    if not (digits.isascii() and digits.isdigit()):
        raise FieldProblem(codes.INVALID_GTIN, "digits")
    if len(digits) not in (8, 12, 13, 14):
        raise FieldProblem(codes.INVALID_GTIN, "length")
    if gs1_check_digit(digits[:-1]) != digits[-1]:
        raise FieldProblem(codes.INVALID_GTIN, "check digit")
    if _RESTRICTED_GTIN.match(digits.zfill(14)[1:]):
        raise FieldProblem(codes.INVALID_GTIN, "restricted")
    if len(digits) == 14 and digits[0] == "9":
        raise FieldProblem(codes.INVALID_GTIN, "variable measure")
    body = digits[:-1].lstrip("0")
    if len(set(body)) <= 1 or body.startswith("123456789"):
        raise FieldProblem(codes.INVALID_GTIN, "placeholder")
    return digits


def _result(function: Any, *args: Any) -> Any:
    try:
        return function(*args)
    except (FieldProblem, NumberFormatError, ValueError) as exc:
        return type(exc), getattr(exc, "code", None)


def test_plain_gtins_are_checked_as_the_whole_function_checks_them() -> None:
    parser, _ = _parsers()
    rng = random.Random(3)
    for _ in range(40_000):
        length = rng.choice([8, 10, 12, 13, 14])
        body = "".join(rng.choice("0123456789") for _ in range(length - 1))
        for raw in (body + gs1_check_digit(body), body + rng.choice("0123456789")):
            assert _result(parser._gtin, raw, lambda c, m: None) == _result(
                _reference_gtin, raw), raw


def test_restricted_prefixes_are_the_pattern() -> None:
    for number in range(1000):
        text = f"{number:03d}0000000000"
        assert text.startswith(_RESTRICTED_PREFIXES) == bool(_RESTRICTED_GTIN.match(text))


_WEIGHT = re.compile(r"^\s*([0-9.,]+)\s*([A-Za-z]*)\.?\s*$")


def test_weights_written_number_space_unit_read_as_the_pattern_reads_them() -> None:
    rng = random.Random(7)
    units = ["kg", "g", "lb", "oz", "KG", "kgs", "grams", "parsec", "", "kg."]
    for locale in (None, "es_ES"):
        parser = RowParser(SourceConfig(path="x.csv", locale=locale,
                                        defaults={"weight_unit": "kg"}), ["id"], "x.csv")
        reference = RowParser(SourceConfig(path="x.csv", locale=locale,
                                           defaults={"weight_unit": "kg"}), ["id"], "x.csv")
        for _ in range(20_000):
            number = "".join(rng.choice("0123456789.,") for _ in range(rng.randrange(0, 7)))
            raw = f"{number}{rng.choice(['', ' ', '  '])}{rng.choice(units)}".strip()
            if not raw:
                continue
            # The general path alone: a cell the shortcut does not take ('x' + raw would
            # not match at all), so compare with the pattern's own reading.
            fast = _result(parser._weight, raw, lambda c, m: None)
            match = _WEIGHT.match(raw)
            if match is None:
                assert fast == (FieldProblem, codes.INVALID_WEIGHT), raw
                continue
            slow = _result(reference._weight, f" {raw}", lambda c, m: None)  # pattern path
            assert fast == slow, raw


def test_dotted_numbers_read_as_the_general_path_reads_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(9)
    texts = []
    for _ in range(20_000):
        whole = "".join(rng.choice("0123456789") for _ in range(rng.randrange(0, 17)))
        part = "".join(rng.choice("0123456789") for _ in range(rng.randrange(0, 14)))
        texts.append(f"{whole}.{part}")
    texts += ["1.234", "0.074", "١.٥", "1.5\n", " 1.5", "1.234567890123"]
    locales = (None, "es_ES", "de_CH", "en_US", "pt_BR")
    fast = {(t, loc): _result(parse_decimal, t, loc) for t in texts for loc in locales}
    monkeypatch.setattr(numbers, "_DOTTED_NUMBER", re.compile(r"(?!)"))
    for (text, locale), value in fast.items():
        slow = _result(parse_decimal, text, locale)
        assert value == slow, (text, locale)
        if isinstance(value, Decimal):
            assert str(value) == str(slow), (text, locale)


def test_descriptions_with_simple_markup_clean_as_clean_text_cleans_them() -> None:
    from feedsync.products.parse import _clean_text

    parser, _ = _parsers()
    rng = random.Random(17)
    alphabet = _TAGS + _WORDS + ["\x07", "\ufffd", "\ue000", "#xD;", "x#9;"]
    for _ in range(40_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 10)))
        fast_warnings: list[tuple[str, str]] = []
        slow_warnings: list[tuple[str, str]] = []
        fast = parser._description(text, lambda c, m, out=fast_warnings: out.append((c, m)))
        slow = _clean_text(text, lambda c, m, out=slow_warnings: out.append((c, m)),
                           keep_newlines=True)
        assert (fast, fast_warnings) == (slow, slow_warnings), text

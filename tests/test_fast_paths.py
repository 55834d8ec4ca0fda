"""Fast paths agree with the one readable definition of their rule, on many values."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest
from stdnum import ean

from feedsync.checks.text import collapse_by_regex, collapse_whitespace
from feedsync.products.parse import gs1_check_digit


def test_gs1_check_digit_agrees_with_python_stdnum() -> None:
    rng = random.Random(13)
    for _ in range(50_000):
        body = "".join(rng.choice("0123456789") for _ in range(rng.choice([7, 11, 12, 13])))
        assert gs1_check_digit(body) == ean.calc_check_digit(body), body
        number = body + rng.choice("0123456789")  # a valid GTIN about 1 time in 10
        assert (gs1_check_digit(number[:-1]) == number[-1]) == ean.is_valid(number), number


def test_collapsing_white_space_keeping_line_breaks_agrees_with_the_regexes() -> None:
    rng = random.Random(5)
    alphabet = [" ", " ", "\t", "\u00a0", "\n", "\r", "\x0b", "\x0c", "\u2003", "\x1c",
                "a", "b", "ñ", "-"]
    for _ in range(200_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 14)))
        assert collapse_whitespace(text, keep_newlines=True) == collapse_by_regex(text), text
    # Without other white space, where the str.split fast path applies.
    plain = [" ", " ", "\t", "\u00a0", "\n", "a", "b", "ñ", "-", "\u200b"]
    for _ in range(100_000):
        text = "".join(rng.choice(plain) for _ in range(rng.randrange(0, 14)))
        assert collapse_whitespace(text, keep_newlines=True) == collapse_by_regex(text), text
    # Spaces and line breaks only (the replace-runs path), long runs included.
    spaces = [" ", " ", " ", "\n", "a", "ñ", "\u200b"]
    for _ in range(100_000):
        text = "".join(rng.choice(spaces) for _ in range(rng.randrange(0, 20)))
        assert collapse_whitespace(text, keep_newlines=True) == collapse_by_regex(text), text


def test_an_issue_survives_pickling_between_processes_whole() -> None:
    import pickle

    from feedsync.checks.issue import Issue, Severity

    issue = Issue("invalid-gtin", Severity.ERROR, "GTIN 1 fails", row=3, product_id="A1",
                  field="gtin", value="1", channel="google", column="EAN")
    copy = pickle.loads(pickle.dumps(issue))
    assert copy == issue and copy.severity is Severity.ERROR
    assert pickle.loads(pickle.dumps(Issue("x", Severity.INFO, "m"))) == Issue(
        "x", Severity.INFO, "m")


def test_copying_a_product_with_changes_is_dataclasses_replace() -> None:
    from dataclasses import replace
    from decimal import Decimal

    from feedsync.products.product import Money, Product

    product = Product(id="A1", row=2, title="Camiseta", price=Money(Decimal("9.95"), "EUR"),
                      additional_image_link=["https://x.example/1.jpg"], extra={"k": "v"})
    changes = {"price": Money(Decimal("203.48"), "MXN"), "title": "Playera"}
    assert product.copy_with(**changes) == replace(product, **changes)
    assert product.copy_with() == product


def test_other_white_space_is_every_space_str_split_knows_but_the_collapsed_ones() -> None:
    from feedsync.checks.text import _OTHER_WHITESPACE

    for code in range(0x110000):
        char = chr(code)
        expected = char.isspace() and char not in " \t\n\u00a0"
        assert (_OTHER_WHITESPACE.search(char) is not None) == expected, hex(code)


def test_plain_numbers_take_the_short_path_and_long_ones_are_still_bounded() -> None:
    import pytest

    from feedsync.products.numbers import NumberFormatError, parse_decimal

    assert str(parse_decimal("123456789012345")) == "123456789012345"  # 15 digits
    assert str(parse_decimal("000000000000012.50")) == "12.50"
    with pytest.raises(NumberFormatError):
        parse_decimal("1234567890123456")  # 16 integer digits


def test_one_scan_for_control_or_invalid_characters_agrees_with_both_checks() -> None:
    from feedsync.checks.text import (
        has_control_characters,
        has_control_or_invalid_characters,
        has_invalid_characters,
    )

    for code in range(0x10000):
        char = chr(code)
        assert has_control_or_invalid_characters(f"a{char}b") == (
            has_control_characters(char) or has_invalid_characters(char)), hex(code)


def test_xml_escaping_short_cut_never_skips_a_character_xml_forbids() -> None:
    from feedsync.writers.xml import _NEEDS_ESCAPE, escape_text

    for code in range(0x110000):
        char = chr(code)
        if _NEEDS_ESCAPE.search(char) is not None:
            assert escape_text(f"a{char}b") != f"a{char}b", hex(code)


def test_field_template_memo_gives_the_rendered_text_and_stops_when_inputs_do_not_repeat(
) -> None:
    from feedsync.channels.render import MemoisedFieldTemplate, _FieldRenderer
    from feedsync.channels.spec import FieldSpec
    from feedsync.products.product import Product

    spec = FieldSpec.model_validate(
        {"name": "label", "template": "{{ (brand or settings.fallback) | upper }}-{{ size }}"})
    field = _FieldRenderer(spec, "shop", {"settings": {"fallback": "house"}})
    assert isinstance(field.get, MemoisedFieldTemplate)
    repeated = [Product(row=n, id=f"A{n}", title="T", brand=[None, "acme", "zeta"][n % 3],
                        size="M" if n % 2 else None) for n in range(3000)]
    texts = [field.get(p) for p in repeated]
    assert texts[:4] == ["HOUSE-", "ACME-M", "ZETA-", "HOUSE-M"]
    assert texts == [f"{(p.brand or 'house').upper()}-{p.size or ''}" for p in repeated]
    assert field.get.memo is not None and field.get.hits == 3000 - 6

    unique = _FieldRenderer(spec, "shop", {"settings": {"fallback": "house"}})
    products = [Product(row=n, id=f"A{n}", title="T", brand=f"b{n}") for n in range(3000)]
    assert [unique.get(p) for p in products] == [f"B{n}-" for n in range(3000)]
    assert unique.get.memo is None  # switched off: the inputs never repeated


def test_a_field_template_s_generated_call_gives_what_its_general_path_gives() -> None:
    """MemoisedFieldTemplate.call (generated per template) against `general`, the
    definition, each on its own memo: the same texts for products with canonical and
    extra values of every kind (None, empty, non-ASCII, surrogates, markup, money,
    measures, shipping lists, huge numbers), the same memo and counts at the end, also
    across the trial that switches a memo off and with no product value at all."""
    from decimal import Decimal

    from feedsync.channels.render import MemoisedFieldTemplate, field_renderer
    from feedsync.products.product import Measure, Money, Product, Shipping
    from feedsync.templating import template_environment

    env = template_environment()
    rng = random.Random(5)
    texts = [None, "", "a", "Acme", "\u00e9t\u00e9 <b>&amp;</b>", "\ud800x", "  padded ",
             "1" * 14, "MLM123", "in_stock", "out_of_stock"]
    templates = [
        "{{ gtin if gtin and gtin|length in (8, 13) else '' }}",
        "{{ ml_model or mpn }}",
        "{{ (brand or settings.fallback) | upper }}-{{ size }}",
        "{% if availability in ['out_of_stock'] %}0{% elif quantity is not none %}"
        "{{ quantity }}{% endif %}",
        "{{ price.split(' ')[-1] if price else '' }}{{ shipping_weight }}",
        "{{ shipping[0].price if shipping else settings.fallback }}",
        "{{ settings.fallback }}",
    ]
    rule = Shipping("ES", Money(Decimal("4.95"), "EUR"))

    def product(number: int) -> Product:
        return Product(
            row=number, id=f"A{number}", title="T", gtin=rng.choice(texts),
            mpn=rng.choice(texts), brand=rng.choice(texts), size=rng.choice(texts),
            availability=rng.choice(texts),
            quantity=rng.choice([None, 0, -3, 7, 10**30]),
            price=rng.choice([None, Money(Decimal("9.95"), "EUR"),
                              Money(Decimal("1E+40"), "MXN")]),
            shipping_weight=rng.choice([None, Measure(Decimal("0.5"), "kg")]),
            shipping=rng.choice([[], [rule]]),
            extra={"ml_model": rng.choice(["", "M\u00f6del", "x"])} if rng.random() < 0.5
            else {})

    fixed = {"settings": {"fallback": "house"}}
    for source in templates:
        names = sorted(n for n in meta_names(env, source) if n != "settings")
        render = field_renderer(env.from_string(source), source, names, fixed)
        fast = MemoisedFieldTemplate(render, names, fixed)
        general = MemoisedFieldTemplate(render, names, fixed)
        for number in range(MemoisedFieldTemplate.MEMO_TRIAL + 500):
            item = product(number)
            assert fast.call(item) == general.general(item), (source, item)
        assert (fast.memo, fast.hits, fast.lookups) == (
            general.memo, general.hits, general.lookups), source
        item = product(1)
        assert fast(item) == general.general(item)  # __call__ is the generated call


def meta_names(env: Any, source: str) -> set[str]:
    from jinja2 import meta

    return set(meta.find_undeclared_variables(env.parse(source)))


def _rss_writer() -> Any:
    from pathlib import Path

    from feedsync.channels.loader import load_spec
    from feedsync.config import FeedInfo
    from feedsync.writers.xml import RssWriter

    spec = load_spec("google_merchant")
    return RssWriter.for_encoding(Path("feed.xml"), spec, spec.formats["xml"], FeedInfo())


def test_xml_item_encoding_checked_once_per_item_writes_what_escaping_each_value_writes(
        ) -> None:
    """RssWriter.encode looks for forbidden characters once per item; the slow path
    (`_encode_dropping`, every value through escape_text) is the definition."""
    writer = _rss_writer()
    rng = random.Random(11)
    alphabet = ["a", "Z", " ", "\n", "\t", "\r", "&", "<", ">", "é", "€", "\x00", "\x07",
                "\x0b", "\x1f", "\x7f", "\x85", "\ufffe", "\uffff", "\ud800", "\U0001f600"]

    def text() -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))

    for _ in range(3000):
        item: dict[str, object] = {f"f{i}": text() for i in range(rng.randint(1, 4))}
        if rng.random() < 0.3:
            item["list"] = [text() for _ in range(rng.randint(0, 3))]
        if rng.random() < 0.3:
            item["shipping"] = [{"country": text(), "price": text()}]
        if rng.random() < 0.2:
            item["n"] = rng.choice([3, True, False, 1.5])
        expected = writer._encode_dropping(item)
        assert writer.encode(item) == expected, item
        assert writer.encode_general(item) == expected, item


def test_generated_xml_item_encoders_write_what_the_general_path_writes() -> None:
    """The encoder generated per key set (ItemEncoder) against `encode_general`, its
    definition: items of the spec's fields (texts, lists of texts, shipping groups) in
    many shapes, with markup, %, the \\x01 and \\x02 it marks tags with, characters XML
    forbids, non-text values and lists or groups where they are not expected."""
    writer = _rss_writer()
    fields = [f.name for f in writer.spec.fields]
    rng = random.Random(23)
    alphabet = ["a", "Z", " ", "\n", "\t", "&", "<", ">", "%", "%s", "é", "€", "\x01",
                "\x02", "\x00", "\x0b", "\x7f", "\u00a0", "\ufffe", "\ud800", "\U0001f600"]
    calm = ["a", "b", " ", "\n", "é", "&", ">", "-", "%"]

    def text() -> str:
        # mostly calm texts (the generated path), sometimes anything (its fallbacks)
        chars = alphabet if rng.random() < 0.15 else calm
        return "".join(rng.choice(chars) for _ in range(rng.randint(0, 8)))

    def value(name: str) -> object:
        odd = rng.random() < 0.05
        if name == "additional_image_link" and not odd:
            return [text() for _ in range(rng.randint(0, 3))]
        if name == "shipping" and not odd:
            return [{k: text() for k in rng.sample(["country", "region", "service", "price"],
                                                    rng.randint(0, 3))}
                    for _ in range(rng.randint(0, 2))]
        if odd:
            return rng.choice([3, True, 1.5, None, [text()], [{"a": text()}], {"a": "b"},
                               "text", ["a", 3]])
        return text()

    # a feed has a few key sets (which optional fields an item has), some out of order
    key_sets = [sorted(rng.sample(fields, rng.randint(1, 8)), key=fields.index)
                for _ in range(60)]
    for names in key_sets[:6]:
        rng.shuffle(names)
    generated = 0
    for _ in range(20_000):
        names = rng.choice(key_sets)
        item = {name: value(name) for name in names}
        try:
            expected = writer.encode_general(item)
        except (TypeError, AttributeError) as exc:  # a value no path can write
            with pytest.raises(type(exc)):
                writer.encode(item)
            continue
        assert writer.encode(item) == expected, item
        encoder = writer._encoders.get(tuple(item))
        if encoder is not None and encoder(item) is not None:
            generated += 1
    assert generated > 10_000  # most items took the generated path
    assert 0 < len(writer._encoders) <= writer.MAX_ENCODERS


def test_xml_item_encoders_learn_single_values_that_are_not_text() -> None:
    """Meta's quantity_to_sell_on_facebook is a number in every item: once seen, the
    generated encoder converts such values as `encode_general` does (scalar_text) instead
    of handing every item to it; lists, str subclasses and other odd values in that place
    still go the general way, and the bytes are the general path's for all of them."""
    writer = _rss_writer()
    rng = random.Random(31)

    class Text(str):
        def __str__(self) -> str:
            return "other"

    odd: list[object] = [0, -7, 10**30, True, False, 1.5, float("nan"), 1e-07, None,
                         Decimal("2.50"), {"a": "b"}, ["x", "y"], Text("t&"), "", "a<b",
                         "\x00", "\ud800", "é€"]
    generated = 0
    for _ in range(3000):
        item: dict[str, object] = {"id": rng.choice(["1", "a&b", "é"]),
                                   "title": rng.choice(["T", "<b>", "x\x0by"]),
                                   "quantity": rng.choice(odd) if rng.random() < 0.3
                                   else rng.randint(0, 500)}
        if rng.random() < 0.5:
            item["brand"] = rng.choice(odd)
        try:
            expected = writer.encode_general(item)
        except (TypeError, AttributeError) as exc:
            with pytest.raises(type(exc)):
                writer.encode(item)
            continue
        assert writer.encode(item) == expected, item
        encoder = writer._encoders[tuple(item)]
        if encoder(item) is not None:
            generated += 1
    assert generated > 1500


def test_google_date_times_spelled_directly_are_what_strftime_spells() -> None:
    from datetime import datetime, timedelta, timezone

    from feedsync.products.dates import format_iso_minutes

    rng = random.Random(5)
    for _ in range(3000):
        offset = timezone(timedelta(minutes=rng.randrange(-14 * 60, 14 * 60 + 1)))
        value = datetime(rng.choice([1, 999, 1000, 2026, 9999]), rng.randint(1, 12),
                         rng.randint(1, 28), rng.randint(0, 23), rng.randint(0, 59),
                         rng.randint(0, 59), tzinfo=rng.choice([offset, timezone.utc, None]))
        delta = value.utcoffset() or timedelta(0)
        sign = "-" if delta < timedelta(0) else "+"
        minutes = abs(int(delta.total_seconds())) // 60
        expected = value.strftime("%Y-%m-%dT%H:%M") + f"{sign}{minutes // 60:02d}{minutes % 60:02d}"
        assert format_iso_minutes(value) == expected, value


def test_a_url_the_short_cut_calls_free_of_white_space_has_none() -> None:
    """RowParser._url skips its white-space search for printable ASCII without a space."""
    from feedsync.products.parse import _WHITESPACE

    for code in range(128):
        url = f"https://shop.example.com/p{chr(code)}1"
        if " " not in url and url.isprintable():
            assert _WHITESPACE.search(url) is None, hex(code)
        else:
            assert _WHITESPACE.search(url) is not None or not url.isprintable(), hex(code)


def test_an_issue_built_by_the_fast_init_is_the_dataclass_one() -> None:
    from dataclasses import replace

    from feedsync.checks.issue import (
        MAX_MESSAGE,
        MAX_VALUE,
        Issue,
        Severity,
        _clipped,
        _dataclass_init,
    )

    def clip(text: str | None, limit: int) -> str | None:
        return text if text is None or len(text) <= limit else _clipped(text, limit)

    rng = random.Random(3)
    for _ in range(2000):
        fields = {name: rng.choice([None, "x" * rng.choice([1, 199, 200, 201, 5000])])
                  for name in ("product_id", "field", "value", "channel", "column")}
        args = ("code", rng.choice(list(Severity)), "m" * rng.choice([0, 600, 601, 10**6]))
        fast = Issue(*args, row=rng.choice([None, 7]), **fields)  # type: ignore[arg-type]
        slow = Issue.__new__(Issue)  # the dataclass's own __init__, the clipping done here
        _dataclass_init(slow, *args[:2], clip(args[2], MAX_MESSAGE), row=fast.row,
                        **(fields | {"value": clip(fields["value"], MAX_VALUE)}))
        assert fast == slow and hash(fast) == hash(slow)
        assert len(fast.message) <= MAX_MESSAGE and len(fast.value or "") <= MAX_VALUE
        assert replace(fast, severity=Severity.INFO) == replace(slow, severity=Severity.INFO)


def test_an_issue_built_for_the_row_path_is_the_one_issue_builds() -> None:
    """row_issue (plain stores into a draft that becomes the Issue) against Issue(...)."""
    import dataclasses
    import pickle

    import pytest

    from feedsync.checks.issue import Issue, Severity, row_issue

    rng = random.Random(5)
    texts = [None, "", "x", "é ünïcode", "\ud800 surrogate", "<b>&amp;</b>", "x" * 199,
             "x" * 200, "x" * 201, "y" * 5000]
    for _ in range(3000):
        args = (rng.choice(["html-in-text", "", "c\u00e9"]), rng.choice(list(Severity)),
                rng.choice(["", "m", "m" * 600, "m" * 601, "ñ" * 10**5]),
                rng.choice([None, 0, 7, 10**30]), *(rng.choice(texts) for _ in range(5)))
        fast, slow = row_issue(*args), Issue(*args)  # type: ignore[arg-type]
        assert type(fast) is Issue and fast == slow and hash(fast) == hash(slow)
        assert dataclasses.asdict(fast) == dataclasses.asdict(slow)
        assert pickle.loads(pickle.dumps(fast)) == slow
        assert dataclasses.replace(fast, row=1) == dataclasses.replace(slow, row=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.code = "other"  # type: ignore[misc]


def test_a_clipped_issue_stays_the_same_when_rebuilt_from_its_fields() -> None:
    """--jobs N sends issues between processes as their fields: clipping twice must not
    change a long message or value (it did: the note made the text longer than the limit)."""
    import pickle

    from feedsync.checks.issue import Issue, Severity

    issue = Issue("c", Severity.WARNING, "start " + "m" * 10_000 + " end", value="v" * 300)
    assert "[... " in issue.message and issue.message.startswith("start ")
    assert issue.message.endswith(" end") and "characters ...]" in (issue.value or "")
    assert pickle.loads(pickle.dumps(issue)) == issue


def test_image_lists_split_without_the_pattern_where_they_hold_no_white_space() -> None:
    """RowParser._url_list splits on '|' alone for printable text without a space or a
    comma: the same parts as the default pattern, which allows white space around ',',
    '|' and line breaks."""
    from feedsync.products.parse import _MULTI_SPLIT

    rng = random.Random(9)
    alphabet = ["a", "/", "|", "|", ",", " ", "\n", "\t", "\u2003", "\u00a0", "\x85", "é"]
    for _ in range(100_000):
        raw = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 10)))
        if "," not in raw and " " not in raw and raw.isprintable():
            assert raw.split("|") == _MULTI_SPLIT.split(raw), repr(raw)


def test_money_and_measure_formats_are_their_definitions() -> None:
    """FORMATTERS' money and measure take a short cut for their own class; the
    definitions are `_money` for a Money (else `_text`) and `_text`."""
    from datetime import datetime, timezone
    from decimal import Decimal

    from feedsync.channels.render import FORMATTERS, _money, _text
    from feedsync.products.product import DateWindow, Measure, Money

    moment = datetime(2026, 12, 3, 9, 30, tzinfo=timezone.utc)
    values: list[object] = [
        Money(Decimal("9.5"), "EUR"), Money(Decimal("1500"), "CLP"), Money(Decimal("-0.005"),
                                                                          "USD"),
        Money(Decimal("1E+3"), "JPY"), Measure(Decimal("0.50"), "kg"), Measure(Decimal("3"), "g"),
        "12 kg", Decimal("2.50"), True, False, 7, moment, DateWindow(moment, moment), None]
    for value in values:
        expected_money = _money(value) if isinstance(value, Money) else _text(value)
        assert FORMATTERS["money"](value) == expected_money, value
        assert FORMATTERS["measure"](value) == _text(value), value


def test_libyaml_and_pyyaml_load_the_same_positioned_documents() -> None:
    """load_positioned parses with libyaml where it can: the data, every key's line and
    the duplicate keys must be what PyYAML's own parser gives, for every YAML file of the
    project and for many generated documents; a text either parser refuses must give
    PyYAML's error (load_positioned falls back to it)."""
    import contextlib
    from pathlib import Path

    import pytest
    import yaml

    from feedsync.yamlpos import _load_with, load_positioned

    if not hasattr(yaml, "CSafeLoader"):
        pytest.skip("PyYAML without libyaml")
    root = Path(__file__).resolve().parent.parent
    texts = [path.read_text(encoding="utf-8") for pattern in ("*.yaml", "*.yml")
             for path in root.rglob(pattern) if ".git" not in path.parts]
    scalars = ["x", "'q'", '"d\\u00e9"', "12", "1.5", "0x1F", "1e3", "yes", "no", "on",
               "null", "~", "", "2026-01-02", "2026-01-02T03:04:05Z", "é ü", "a # c",
               "'it''s'", "|\n  block\n  text", ">\n  folded\n  text", "[a, b]",
               "{k: v}", "&anchor v", "*anchor", "!!str 5", "-1", ".inf", "a: b"]
    rng = random.Random(11)
    for _ in range(600):
        lines = []
        for depth in range(rng.randint(1, 6)):
            key = rng.choice(["a", "b", "key", "dup", "é", "'quoted key'", "<<", "1"])
            indent = "  " * rng.randint(0, depth)
            value = rng.choice(scalars)
            lines.append(f"{indent}{rng.choice(['', '- '])}{key}: {value}"
                         if rng.random() < 0.8 else f"{indent}- {value}")
        texts.append("\n".join(lines) + rng.choice(["", "\n", "\n\n# end"]))
    for text in texts:
        fast = slow = None
        with contextlib.suppress(Exception):  # the fallback's case: PyYAML then decides
            fast = _load_with(yaml.CSafeLoader, text, Path("f.yaml"))
        try:
            slow = _load_with(yaml.SafeLoader, text, Path("f.yaml"))
        except yaml.YAMLError as exc:
            with pytest.raises(yaml.YAMLError) as got:
                load_positioned(text, Path("f.yaml"))
            assert str(got.value) == str(exc), text
            continue
        loaded = load_positioned(text, Path("f.yaml"))
        assert (loaded.data, loaded.lines, loaded.duplicates) == (
            slow.data, slow.lines, slow.duplicates), text
        if fast is not None:
            assert repr(fast.data) == repr(slow.data), text
            assert (fast.lines, fast.duplicates) == (slow.lines, slow.duplicates), text


def test_number_and_integer_formats_give_what_their_general_paths_give() -> None:
    """The `number` format's shortcut for money (its quantum looked up once per currency)
    and the `integer` format's for an int, against the definitions, on odd values: zero
    and negative amounts, currencies without decimals (CLP) or with three (KWD), huge
    numbers, an amount too long to quantize (both raise), floats, texts, booleans."""
    # (InvalidOperation and OverflowError are ArithmeticErrors: compared by name)
    from decimal import Decimal

    from feedsync.channels.render import (
        _integer,
        _integer_general,
        _number,
        _number_general,
    )
    from feedsync.products.product import Measure, Money

    amounts = [Decimal(text) for text in (
        "0", "-0", "0.005", "-3.999", "19.95", "1E+3", "123456789012345678.5", "1E+40",
        "4.9500", "7")]
    values: list[Any] = [Money(a, c) for a in amounts for c in ("EUR", "CLP", "KWD", "JPY")]
    values += [0, -1, 7, 10**30, -(10**40), True, False, 1.5, float("inf"), "12", " 3 ",
               "x", "", "\u0663", Measure(Decimal("0.5"), "kg"), Decimal("2.50"), None]

    def outcome(format_: Any, value: Any) -> str:
        try:
            result = format_(value)
        except (ArithmeticError, ValueError) as exc:  # both raise alike (an infinity)
            return f"raised {type(exc).__name__}"
        return f"{type(result).__name__} {result!r}"

    for value in values:
        assert outcome(_number, value) == outcome(_number_general, value), value
        assert outcome(_integer, value) == outcome(_integer_general, value), value

"""Every built-in channel spec, checked the same way: a kitchen-sink product renders, each
required field is enforced, and every format's output parses with a safe parser."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from feedsync.channels.loader import available_specs, load_spec
from feedsync.channels.render import ChannelRenderer
from feedsync.channels.spec import ChannelSpec
from feedsync.config import FeedInfo
from feedsync.products.product import Money, Shipping
from feedsync.writers import open_writer
from tests.channel_helpers import (
    HOSTILE,
    kitchen_sink_for,
    parse_output,
    product_inputs,
    run_context,
    without,
)

SPECS = sorted(available_specs())


def _renderer(spec: ChannelSpec) -> ChannelRenderer:
    return ChannelRenderer(spec, spec.name, context=run_context(spec))


def test_every_channel_of_the_issue_has_a_spec() -> None:
    assert set(SPECS) >= {"google_merchant", "meta_catalog", "tiktok_catalog",
                          "pinterest_catalog", "microsoft_merchant", "amazon_listings",
                          "ebay_inventory", "mercadolibre_items", "idealo", "openai_products"}


@pytest.mark.parametrize("name", SPECS)
def test_spec_cites_its_reference(name: str) -> None:
    text = available_specs()[name].read_text(encoding="utf-8")
    header = text.split("\nname:")[0]
    assert "channel-specs.md" in header or "search" in header
    assert "Choices" in header or "choices" in header


@pytest.mark.parametrize("name", SPECS)
def test_kitchen_sink_renders_without_errors(name: str) -> None:
    spec = load_spec(name)
    item, issues = _renderer(spec).render(kitchen_sink_for(name))
    assert [i for i in issues if i.is_error] == []
    assert item is not None
    for field in spec.fields:
        if field.required:
            assert item.get(field.name) not in (None, "", []), field.name


def _required_cases() -> list[tuple[str, str]]:
    cases = []
    for name in SPECS:
        spec = load_spec(name)
        for field in spec.fields:
            if field.required and product_inputs(field):
                cases.append((name, field.name))
    return cases


@pytest.mark.parametrize(("name", "field_name"), _required_cases())
def test_removing_a_required_field_leaves_the_product_out(name: str, field_name: str) -> None:
    spec = load_spec(name)
    field = spec.field(field_name)
    assert field is not None
    inputs = product_inputs(field)
    item, issues = _renderer(spec).render(without(kitchen_sink_for(name), inputs))
    assert item is None
    missing = [i for i in issues if i.code == "missing-required"]
    assert missing, [i.code for i in issues]
    assert all(i.channel == name for i in missing)
    assert any(i.field in inputs | {field_name} for i in missing)


def test_meta_requires_one_of_brand_gtin_mpn() -> None:
    spec = load_spec("meta_catalog")
    product = kitchen_sink_for("meta_catalog", brand=None, gtin=None, mpn=None)
    item, issues = _renderer(spec).render(product)
    assert item is None
    assert [i.code for i in issues] == ["missing-required"]
    item, _ = _renderer(spec).render(kitchen_sink_for("meta_catalog", brand=None, gtin=None))
    assert item is not None


def _formats() -> list[tuple[str, str]]:
    return [(name, fmt) for name in SPECS for fmt in load_spec(name).formats]


@pytest.mark.parametrize(("name", "fmt_name"), _formats())
def test_output_parses_with_a_safe_parser(name: str, fmt_name: str, tmp_path: Path) -> None:
    spec = load_spec(name)
    fmt = spec.formats[fmt_name]
    renderer = _renderer(spec)
    products = [kitchen_sink_for(name),
                kitchen_sink_for(name, id="KS-002", title=HOSTILE,
                                 description=HOSTILE + "\nsegunda línea")]
    path = tmp_path / f"feed{fmt.extension}"
    writer = open_writer(path, spec, fmt, FeedInfo(title="T & <t>"),
                         context=run_context(spec))
    for product in products:
        item, issues = renderer.render(product)
        assert item is not None, issues
        writer.write(item)
    writer.commit()
    written = sorted(tmp_path.glob("feed*"))
    assert written, "nothing written"
    items: list = []
    for part in written:
        parsed = parse_output(part, fmt.writer, fmt.delimiter)
        if fmt.writer == "json":
            document = parsed[0]
            parsed = document if isinstance(document, list) else next(
                v for v in document.values() if isinstance(v, list))
        elif fmt.writer == "jsonl" and fmt.document is not None:
            parsed = [i for line in parsed for i in next(
                v for v in line.values() if isinstance(v, list))]
        items += parsed
    assert len(items) == 2
    # The hostile title (quotes, &, <, commas, a tab) comes back as text, not markup.
    assert "<b>fuerte</b>, 50% más" in json.dumps(
        [i if isinstance(i, (dict, list)) else i.xpath("string()") for i in items],
        ensure_ascii=False)


def _general_path_only(renderer: ChannelRenderer, product) -> tuple[dict, list, bool]:
    """Every field through ChannelRenderer._render_field, the one general definition."""
    item: dict = {}
    issues: list = []
    excluded = False
    for index, field in enumerate(renderer.fields):
        excluded = renderer._render_field(index, field.get(product), product, item,
                                          issues) or excluded
    return item, issues, excluded


def _variants(spec_name: str) -> list:
    """The kitchen sink, emptied one field at a time, stretched past limits, given odd
    enum values: the cases where the generated fast path must hand over."""
    products = [kitchen_sink_for(spec_name)]
    for field in load_spec(spec_name).fields:
        products.append(without(kitchen_sink_for(spec_name), product_inputs(field)))
    products += [kitchen_sink_for(spec_name, title="word " * 2000, id="X" * 300, brand=""),
                 kitchen_sink_for(spec_name, availability="discontinued", condition="used",
                                  gender="female", age_group="newborn", color=None, size=""),
                 kitchen_sink_for(spec_name, availability="limited_availability",
                                  additional_image_link=[f"https://cdn.example.com/{n}.jpg"
                                                         for n in range(30)]),
                 kitchen_sink_for(spec_name, additional_image_link=[]),
                 # Shipping rules: one in another currency than the price, none, several.
                 kitchen_sink_for(spec_name, shipping=[
                     Shipping("ES", Money(Decimal("3.95"), "EUR")),
                     Shipping("US", Money(Decimal("9"), "USD"))]),
                 kitchen_sink_for(spec_name, shipping=[Shipping("US", Money(Decimal("9"),
                                                                             "USD"))]),
                 kitchen_sink_for(spec_name, shipping=[]),
                 kitchen_sink_for(spec_name, shipping=[
                     Shipping("ES", Money(Decimal("3.95"), "EUR"), service="Exprés"),
                     Shipping("PT", Money(Decimal("0"), "EUR"), region="Madeira")]),
                 kitchen_sink_for(spec_name, additional_image_link=[
                     "https://cdn.example.com/" + "x" * 2100, "https://cdn.example.com/b.jpg"])]
    # Dates on both sides of a year ahead of FEEDSYNC_NOW (tests/conftest.py), past
    # ones, other offsets: the inline path for a date within its horizon.
    now = datetime.fromisoformat("2026-11-28T12:00:00+01:00")
    products += [kitchen_sink_for(spec_name, availability="preorder", availability_date=when)
                 for when in (now, now + timedelta(days=365), now + timedelta(days=365, seconds=1),
                              now + timedelta(days=20), now - timedelta(days=3000),
                              now.astimezone(timezone(timedelta(hours=-7))) + timedelta(days=2),
                              now.astimezone(timezone.utc) + timedelta(days=400))]
    return products


@pytest.mark.parametrize("name", SPECS)
def test_generated_field_code_matches_the_general_path(name: str) -> None:
    renderer = _renderer(load_spec(name))
    for product in _variants(name):
        item: dict = {}
        issues: list = []
        excluded = renderer._render_fields(product, item, issues)
        assert (item, issues, excluded) == _general_path_only(renderer, product)


def test_a_rule_settled_by_the_quick_test_is_one_the_full_definition_finds_nothing_in() -> None:
    """ChannelRenderer skips `_apply_rule` when `_rule_settles_quietly` says the rule gives
    nothing: on every spec's rules and many products, that must hold, and the quick test
    must settle some (the products meet both rules that apply and rules that do not)."""
    settled = passed_on = 0
    for name in SPECS:
        renderer = _renderer(load_spec(name))
        products = _variants(name) + [
            kitchen_sink_for(name, availability=availability, condition=condition,
                             brand=brand, google_product_category=category)
            for availability in ("preorder", "backorder", "in_stock")
            for condition in ("new", "used") for brand in ("", "Acme")
            for category in ("783", "1604")]
        for product in products:
            item, _, _ = _general_path_only(renderer, product)
            # the generated test of every rule (what render uses) against each rule's own
            assert renderer._unsettled(product, item) == [
                index for index, (_, settles) in enumerate(renderer._rules)
                if not settles(product, item)], name
            for rule, settles in renderer._rules:
                if settles(product, item):
                    settled += 1
                    assert renderer._apply_rule(rule, product, item) is None, (name, rule)
                else:
                    passed_on += 1
    assert settled > 100 and passed_on > 10


def test_the_generated_rule_tests_settle_what_each_rule_s_quick_test_settles() -> None:
    """`_compile_rule_tests` (one generated function, what render uses) against
    `_rule_settles_quietly`, on random rules over text, enum-like, money and boolean
    fields (when, unless, require, require_any, patterns, reports, exclusions)."""
    import random

    from feedsync.channels.render import _compile_rule_tests, _rule_settles_quietly
    from feedsync.channels.spec import RuleSpec
    from tests.channel_helpers import kitchen_sink

    rng = random.Random(3)
    values = {"availability": ["in_stock", "preorder", None], "condition": ["new", "used"],
              "brand": ["Acme", "", None], "identifier_exists": [True, False, None],
              "price": [Money(Decimal("9.95"), "EUR"), None]}
    wanted = {"availability": ["in_stock", "preorder"], "condition": ["new", "used"],
              "brand": ["Acme", ""], "identifier_exists": ["yes", "no"],
              "price": ["9.95 EUR", "1 EUR"]}
    names = list(values)

    def options(name: str) -> str | list[str]:
        picked = rng.sample(wanted[name], rng.randint(1, 2))
        return picked[0] if len(picked) == 1 and rng.random() < 0.5 else picked

    def rule() -> RuleSpec:
        when = {n: options(n) for n in rng.sample(names, rng.randint(0, 2))}
        unless = {n: options(n) for n in rng.sample(names, rng.randint(0, 1))}
        kind = rng.random()
        if kind < 0.15 and when:
            return RuleSpec(when=when, unless=unless, exclude=True)
        if kind < 0.25 and when:
            return RuleSpec(when=when, report=True, severity="info")
        if kind < 0.35:
            return RuleSpec(when=when, when_matches={"brand": "^A"}, require=["gtin"])
        if kind < 0.45:  # a pattern alone, or with when/unless, reporting or excluding
            return RuleSpec(when=when, unless=unless, report=rng.random() < 0.5,
                            exclude=rng.random() < 0.5 or not when,
                            when_matches=rng.choice([{"brand": "^A"}, {"price": r"^9\.9"},
                                                     {"availability": "pre", "brand": "e"}]))
        return RuleSpec(when=when, unless=unless,
                        require=rng.sample(["brand", "gtin", "mpn"], rng.randint(0, 2)),
                        require_any=rng.sample(["gtin", "mpn"], rng.randint(1, 2))
                        if rng.random() < 0.4 else [])

    # what _apply_rule reads of its renderer: the spec's title and the channel
    renderer: Any = SimpleNamespace(spec=SimpleNamespace(title="Shop"), channel="shop")
    checked = settled = 0
    for _ in range(300):
        rules = []
        while len(rules) < rng.randint(1, 4):
            try:
                rules.append(rule())
            except ValueError:  # a rule the spec schema refuses (nothing required)
                continue
        generated = _compile_rule_tests(rules)
        quick = [_rule_settles_quietly(r) for r in rules]
        for _ in range(10):
            product = kitchen_sink(**{n: rng.choice(v) for n, v in values.items()})
            item = {n: rng.choice(["x", "", None]) for n in ("brand", "gtin", "mpn")}
            assert generated(product, item) == [  # type: ignore[arg-type]
                index for index, settles in enumerate(quick)
                if not settles(product, item)], rules  # type: ignore[arg-type]
            for one, settles in zip(rules, quick, strict=True):  # and the definition
                if settles(product, item):  # type: ignore[arg-type]
                    settled += 1
                    assert ChannelRenderer._apply_rule(
                        renderer, one, product, item) is None, one  # type: ignore[arg-type]
            checked += 1
    assert checked == 3000 and settled > 1000

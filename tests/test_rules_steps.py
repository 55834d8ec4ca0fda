"""Each rule step alone, then ordering, shared rule sets and conditions."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from feedsync.products.product import DateWindow
from feedsync.rules.steps import price_ending
from tests.rules_helpers import apply, eur, product, rules

# -- filter -------------------------------------------------------------------------------

def test_filter_keeps_when_true_and_drops_otherwise(tmp_path: Path) -> None:
    compiled = rules(tmp_path, [{"filter": "availability != 'out_of_stock'"}])
    kept = product()
    assert apply(compiled, kept) is kept
    assert apply(compiled, product(availability="out_of_stock")) is None
    assert compiled.counts()[0].dropped == 1


def test_filter_drop_by_price_range_and_brand(tmp_path: Path) -> None:
    compiled = rules(tmp_path, [
        {"filter": {"drop": "price.amount < 10 or price.amount > 500"}},
        {"filter": {"drop": "brand in ['Cheapo', 'Knockoff']"}},
    ])
    assert apply(compiled, product(price=eur("9.99"))) is None
    assert apply(compiled, product(price=eur("600"))) is None
    assert apply(compiled, product(brand="Cheapo")) is None
    assert apply(compiled, product()) is not None


def test_filter_ids_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "blocked.txt").write_text("# comment\nA1\n\nB2\n", encoding="utf-8")
    drop = rules(tmp_path, [{"filter": {"drop_ids": "blocked.txt"}}])
    assert apply(drop, product(id="A1")) is None
    assert apply(drop, product(id="C3")) is not None
    keep = rules(tmp_path, [{"filter": {"keep_ids": "blocked.txt"}}])
    assert apply(keep, product(id="B2")) is not None
    assert apply(keep, product(id="C3")) is None


def test_filter_on_an_extra_column(tmp_path: Path) -> None:
    compiled = rules(tmp_path, [{"filter": {"drop": "Tipo == 'configurable'"}}])
    assert apply(compiled, product(extra={"Tipo": "configurable"})) is None
    assert apply(compiled, product(extra={"Tipo": "simple"})) is not None


# -- set ----------------------------------------------------------------------------------

def test_set_renders_a_template_from_canonical_fields(tmp_path: Path) -> None:
    compiled = rules(tmp_path, [{"set": {"title": "{{ brand }} {{ title }} - {{ color }}"}}])
    original = product(color="Rojo")
    result = apply(compiled, original)
    assert result is not None and result.title == "Acme Camiseta - Rojo"
    assert original.title == "Camiseta", "the shared product must not change"


def test_set_missing_values_print_as_nothing(tmp_path: Path) -> None:
    compiled = rules(tmp_path, [{"set": {"title": "{{ title }} {{ color }}"}}])
    result = apply(compiled, product())
    assert result is not None and result.title == "Camiseta"


def test_set_typed_fields_and_new_columns(tmp_path: Path) -> None:
    compiled = rules(tmp_path, [{"set": {
        "price": "{{ price.amount * 2 }}", "availability": "preorder", "quantity": "7",
        "Segmento": "{{ brand | lower }}"}}])
    result = apply(compiled, product())
    assert result is not None
    assert result.price == eur("39.90")
    assert result.availability == "preorder"
    assert result.quantity == 7
    assert result.extra["Segmento"] == "acme"


def test_set_unchanged_value_returns_the_same_object(tmp_path: Path) -> None:
    compiled = rules(tmp_path, [{"set": {"title": "Camiseta"}}])
    original = product()
    assert apply(compiled, original) is original
    assert compiled.counts()[0].changed == 0


def test_set_a_bad_enum_value_is_a_warning_not_a_crash(tmp_path: Path) -> None:
    compiled = rules(tmp_path, [{"set": {"availability": "maybe"}}])
    original = product()
    result, issues = compiled.apply(original)
    assert result is original
    assert [i.code for i in issues] == ["rule-failed"]
    assert issues[0].channel == "g" and "maybe" in issues[0].message


def test_runtime_error_in_an_expression_is_reported(tmp_path: Path) -> None:
    compiled = rules(tmp_path, [{"filter": {"drop": "sale_price.amount < 5"}}])
    result, issues = compiled.apply(product())  # no sale_price: sale_price.amount is undefined
    assert result is not None
    assert issues and issues[0].code == "rule-failed"


# -- conditions ---------------------------------------------------------------------------

def test_when_then_else(tmp_path: Path) -> None:
    compiled = rules(tmp_path, [{
        "when": "brand == 'Acme'",
        "then": [{"set": {"custom_label_0": "acme"}}],
        "else": [{"set": {"custom_label_0": "other"}}, {"prefix": {"field": "title",
                                                                     "text": "Oferta: "}}],
    }])
    acme = apply(compiled, product())
    other = apply(compiled, product(brand="Zeta"))
    assert acme is not None and acme.custom_label_0 == "acme" and acme.title == "Camiseta"
    assert other is not None and other.custom_label_0 == "other"
    assert other.title == "Oferta: Camiseta"
    counts = compiled.counts()
    assert [c.depth for c in counts] == [0, 1, 1, 1]
    assert [c.changed for c in counts] == [2, 1, 1, 1]


def test_when_can_wrap_a_filter(tmp_path: Path) -> None:
    compiled = rules(tmp_path, [{"when": "brand == 'Acme'",
                                 "then": [{"filter": "price.amount > 50"}]}])
    assert apply(compiled, product()) is None
    assert apply(compiled, product(brand="Zeta")) is not None


# -- ordering and rule sets ---------------------------------------------------------------

def test_steps_run_in_order(tmp_path: Path) -> None:
    first_markup = rules(tmp_path, [{"markup": 10}, {"round_price": ".99"}])
    first_round = rules(tmp_path, [{"round_price": ".99"}, {"markup": 10}])
    a = apply(first_markup, product(price=eur("20.00")))
    b = apply(first_round, product(price=eur("20.00")))
    assert a is not None and a.price == eur("22.99")
    assert b is not None and b.price == eur("23.09")  # 20.99 * 1.1 = 23.089


def test_shared_rule_set_is_used_by_name(tmp_path: Path) -> None:
    rulesets = {"clean": [{"strip_html": "title"}, {"collapse_whitespace": ["title"]}]}
    compiled = rules(tmp_path, [{"use": "clean"}, {"suffix": {"field": "title",
                                                                "text": " | Acme"}}], rulesets)
    result = apply(compiled, product(title="<b>Camiseta</b>   roja"))
    assert result is not None and result.title == "Camiseta roja | Acme"
    assert [c.label for c in compiled.counts()][:2] == ["strip_html title",
                                                          "collapse_whitespace title"]


def test_rule_sets_can_use_rule_sets(tmp_path: Path) -> None:
    rulesets = {"inner": [{"upper_case": "brand"}], "outer": [{"use": "inner"}]}
    result = apply(rules(tmp_path, [{"use": "outer"}], rulesets), product())
    assert result is not None and result.brand == "ACME"


# -- lookup -------------------------------------------------------------------------------

def test_lookup_csv_with_default(tmp_path: Path) -> None:
    (tmp_path / "brands.csv").write_text("erp;canal\nACM;Acme Corp\nZT;Zeta\n",
                                         encoding="utf-8")
    compiled = rules(tmp_path, [{"lookup": {"field": "brand", "table": "brands.csv",
                                            "default": "Unknown"}}])
    hit = apply(compiled, product(brand="acm"))
    miss = apply(compiled, product(brand="XX"))
    assert hit is not None and hit.brand == "Acme Corp"
    assert miss is not None and miss.brand == "Unknown"


def test_lookup_yaml_without_default_keeps_misses(tmp_path: Path) -> None:
    (tmp_path / "types.yaml").write_text("Camisetas: Apparel\n", encoding="utf-8")
    compiled = rules(tmp_path, [{"lookup": {"field": "product_type", "table": "types.yaml",
                                            "into": "custom_label_2"}}])
    hit = apply(compiled, product(product_type="camisetas"))
    miss = product(product_type="Zapatos")
    assert hit is not None and hit.custom_label_2 == "Apparel"
    assert apply(compiled, miss) is miss


def test_lookup_named_columns(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("a,b,c\nx,1,Uno\n", encoding="utf-8")
    compiled = rules(tmp_path, [{"lookup": {"field": "color", "table": "t.csv",
                                            "key_column": "a", "value_column": "c"}}])
    result = apply(compiled, product(color="x"))
    assert result is not None and result.color == "Uno"


# -- map_category -------------------------------------------------------------------------

def test_map_category_from_a_google_path(tmp_path: Path) -> None:
    compiled = rules(tmp_path, [{"map_category": {"from": "product_type"}}])
    result = apply(compiled, product(
        product_type="Apparel & Accessories > Clothing > Shirts & Tops"))
    assert result is not None and result.google_product_category == "212"


def test_map_category_through_a_table(tmp_path: Path) -> None:
    (tmp_path / "cats.csv").write_text("tipo,google\nCamisetas,212\nTazas,Home & Garden > "
                                       "Kitchen & Dining > Tableware > Drinkware > Mugs\n",
                                       encoding="utf-8")
    compiled = rules(tmp_path, [{"map_category": {"from": "product_type", "table": "cats.csv",
                                                  "default": 166}}])
    mug = apply(compiled, product(product_type="Tazas"))
    other = apply(compiled, product(product_type="Otra cosa"))
    assert mug is not None and mug.google_product_category == "2169"
    assert other is not None and other.google_product_category == "166"


def test_map_category_unknown_value_is_an_issue(tmp_path: Path) -> None:
    compiled = rules(tmp_path, [{"map_category": {"from": "google_product_category"}}])
    original = product(google_product_category="999999")
    result, issues = compiled.apply(original)
    assert result is original
    assert [i.code for i in issues] == ["unknown-category"]
    assert "2021-09-21" in issues[0].message


# -- text ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("step", "before", "after"), [
    ({"strip_html": "description"}, "<p>Hola&nbsp;<b>mundo</b></p>", "Hola mundo"),
    ({"collapse_whitespace": "description"}, "  a \n\n b  ", "a b"),
    ({"title_case": "description"}, "camiseta de ALGODÓN men's", "Camiseta De Algodón Men's"),
    ({"replace": {"field": "description", "old": "algodón", "new": "cotton"}},
     "algodón puro", "cotton puro"),
    ({"regex_replace": {"field": "description", "pattern": r"\s*\(ref\. \d+\)",
                        "replacement": ""}}, "Taza (ref. 123)", "Taza"),
    ({"prefix": {"field": "description", "text": "{{ brand }}: "}}, "Taza", "Acme: Taza"),
    ({"suffix": {"field": "description", "text": " - envío gratis"}}, "Taza",
     "Taza - envío gratis"),
    ({"truncate": {"field": "description", "length": 12}}, "Taza de cerámica grande",
     "Taza de"),
    ({"truncate": {"field": "description", "length": 14, "ellipsis": "…"}},
     "Taza de cerámica grande", "Taza de…"),
])
def test_text_steps(tmp_path: Path, step: dict, before: str, after: str) -> None:
    result = apply(rules(tmp_path, [step]), product(description=before))
    assert result is not None and result.description == after


def test_truncate_defaults_to_the_channel_limit(tmp_path: Path) -> None:
    compiled = rules(tmp_path, [{"truncate": "title"}])
    result = apply(compiled, product(title="palabra " * 30))
    assert result is not None and len(result.title) <= 150 and result.title.endswith("palabra")


# -- prices -------------------------------------------------------------------------------

@pytest.mark.parametrize(("step", "before", "after"), [
    ({"markup": 10}, "19.95", "21.95"),            # 21.945 rounds half up
    ({"discount": 15}, "20.00", "17.00"),
    ({"add_vat": 21}, "100.00", "121.00"),
    ({"remove_vat": 21}, "121.00", "100.00"),
    ({"round_price": ".99"}, "20.10", "20.99"),
    ({"round_price": {"to": ".99", "direction": "down"}}, "20.10", "19.99"),
    ({"round_price": {"to": ".95", "direction": "nearest"}}, "20.10", "19.95"),
    ({"round_price": ".00"}, "20.10", "21.00"),
    ({"round_price": ".99"}, "20.99", "20.99"),
])
def test_price_steps(tmp_path: Path, step: dict, before: str, after: str) -> None:
    result = apply(rules(tmp_path, [step]), product(price=eur(before)))
    assert result is not None and result.price == eur(after)


def test_price_steps_touch_sale_price_too(tmp_path: Path) -> None:
    result = apply(rules(tmp_path, [{"add_vat": 10}]),
                   product(price=eur("10.00"), sale_price=eur("8.00")))
    assert result is not None and result.sale_price == eur("8.80")


def test_discount_as_sale_price(tmp_path: Path) -> None:
    result = apply(rules(tmp_path, [{"discount": {"percent": 25, "as_sale_price": True}}]),
                   product(price=eur("40.00")))
    assert result is not None
    assert result.price == eur("40.00") and result.sale_price == eur("30.00")


def test_price_ending_never_goes_to_zero() -> None:
    assert price_ending(Decimal("0.50"), Decimal("0.99"), "down") == Decimal("0.99")


def test_convert_currency_with_a_rates_table(tmp_path: Path) -> None:
    (tmp_path / "rates.csv").write_text("currency,rate\nEUR,1.08\n", encoding="utf-8")
    result = apply(rules(tmp_path, [{"convert_currency": {"to": "USD", "rates": "rates.csv"}}]),
                   product(price=eur("10.00")))
    assert result is not None and str(result.price) == "10.80 USD"


def test_convert_currency_without_a_rate_is_reported(tmp_path: Path) -> None:
    compiled = rules(tmp_path, [{"convert_currency": {"to": "USD", "rates": {"GBP": 1.2}}}])
    result, issues = compiled.apply(product())
    assert result is not None and result.price == eur("19.95")
    assert "EUR" in issues[0].message


def test_campaign_sets_sale_price_and_window(tmp_path: Path) -> None:
    (tmp_path / "campaign.csv").write_text(
        "id,discount,sale_price,start,end\n"
        "A1,20,,2026-11-27,2026-11-30\n"
        "B2,,9.99,2026-12-01,2026-12-24\n"
        "C3,50,,2026-01-01,2026-01-31\n", encoding="utf-8")
    compiled = rules(tmp_path, [{"campaign": "campaign.csv"}])
    a = apply(compiled, product(id="A1", price=eur("50.00")))
    b = apply(compiled, product(id="B2", price=eur("12.00")))
    ended = product(id="C3")
    assert a is not None and a.sale_price == eur("40.00")
    assert isinstance(a.sale_price_effective_date, DateWindow)
    assert a.sale_price_effective_date.start.date().isoformat() == "2026-11-27"
    assert a.sale_price_effective_date.end.hour == 23
    assert b is not None and b.sale_price == eur("9.99")
    assert apply(compiled, ended) is ended


# -- custom labels ------------------------------------------------------------------------

def test_price_buckets(tmp_path: Path) -> None:
    compiled = rules(tmp_path, [{"price_buckets": {"into": "custom_label_0", "buckets": [
        {"below": 20, "label": "low"}, {"below": 100, "label": "mid"}, {"label": "high"}]}}])
    labels = [apply(compiled, product(price=eur(p))).custom_label_0  # type: ignore[union-attr]
              for p in ("19.99", "20.00", "250")]
    assert labels == ["low", "mid", "high"]


def test_margin_bands_from_a_cost_column(tmp_path: Path) -> None:
    compiled = rules(tmp_path, [{"margin_bands": {"into": "custom_label_1", "cost": "Coste",
                                                  "bands": [{"below": 30, "label": "low"},
                                                            {"label": "high"}]}}])
    low = apply(compiled, product(price=eur("10.00"), extra={"Coste": "8,00"}))
    high = apply(compiled, product(price=eur("10.00"), extra={"Coste": "5"}))
    no_cost = product()
    assert low is not None and low.custom_label_1 == "low"
    assert high is not None and high.custom_label_1 == "high"
    assert apply(compiled, no_cost) is no_cost


def test_new_arrivals_by_a_date_column(tmp_path: Path) -> None:
    compiled = rules(tmp_path, [{"new_arrivals": {"into": "custom_label_2", "date": "FechaAlta",
                                                  "days": 30, "otherwise": "catalogue"}}])
    new = apply(compiled, product(extra={"FechaAlta": "2026-11-01"}))
    old = apply(compiled, product(extra={"FechaAlta": "2026-01-01"}))
    assert new is not None and new.custom_label_2 == "new"
    assert old is not None and old.custom_label_2 == "catalogue"


def test_best_sellers_from_a_joined_list(tmp_path: Path) -> None:
    (tmp_path / "best.csv").write_text("sku,units\nA1,500\n", encoding="utf-8")
    compiled = rules(tmp_path, [{"best_sellers": {"into": "custom_label_3", "ids": "best.csv"}}])
    hit = apply(compiled, product(id="A1"))
    miss = product(id="Z9")
    assert hit is not None and hit.custom_label_3 == "best_seller"
    assert apply(compiled, miss) is miss


# -- variants -----------------------------------------------------------------------------

def test_variants_drop_parents_and_carry_fields_down(tmp_path: Path) -> None:
    compiled = rules(tmp_path, [{"variants": {"carry_down": ["description", "brand"]}}])
    parent = product(id="P", description="Hoodie de lana", brand="Acme")
    child = product(id="P-S", item_group_id="P", description=None, brand=None)
    single = product(id="S")
    for item in (child, parent, single):  # the parent comes last, as in Magento exports
        compiled.observe(item)
    assert apply(compiled, parent) is None
    result = apply(compiled, child)
    assert result is not None
    assert (result.description, result.brand) == ("Hoodie de lana", "Acme")
    assert apply(compiled, single) is single
    assert compiled.needs_prepass


def test_variants_children_listed_by_the_parent(tmp_path: Path) -> None:
    compiled = rules(tmp_path, [{"variants": {
        "parent": "Tipo == 'configurable'", "children_column": "Hijos",
        "children_pattern": "sku=([^,|]+)", "carry_down": "description"}}])
    parent = product(id="MH01", description="Hoodie",
                     extra={"Tipo": "configurable", "Hijos": "sku=MH01-S,size=S|sku=MH01-M"})
    child = product(id="MH01-M", description=None, extra={"Tipo": "simple"})
    for item in (child, parent):
        compiled.observe(item)
    result = apply(compiled, child)
    assert result is not None and result.item_group_id == "MH01"
    assert result.description == "Hoodie"
    assert apply(compiled, parent) is None


def test_campaign_now_is_timezone_aware(tmp_path: Path) -> None:
    # A campaign row ending today still applies until the end of that day.
    (tmp_path / "c.csv").write_text("id,discount,start,end\nA1,10,2026-11-01,2026-11-22\n",
                                    encoding="utf-8")
    compiled = rules(tmp_path, [{"campaign": "c.csv"}])
    result = apply(compiled, product(price=eur("10.00")))
    assert result is not None and result.sale_price == eur("9.00")
    assert datetime(2026, 11, 22, tzinfo=timezone.utc) < result.sale_price_effective_date.end  # type: ignore[union-attr]


def test_the_taxonomy_ships_inside_the_package() -> None:
    import feedsync
    from feedsync.rules.taxonomy import TAXONOMY_FILE, google_taxonomy

    assert TAXONOMY_FILE.is_relative_to(Path(feedsync.__file__).parent)
    taxonomy = google_taxonomy()
    assert taxonomy.version == "2021-09-21" and len(taxonomy.paths) == 5595
    assert taxonomy.id_for(" apparel & accessories >clothing > SHIRTS & TOPS") == "212"
    assert taxonomy.id_for("505") is None


def test_many_changes_never_touch_the_shared_product(tmp_path: Path) -> None:
    compiled = rules(tmp_path, [
        {"set": {"title": "{{ brand }} {{ title }}", "Segmento": "x"}},
        {"markup": 10},
        {"upper_case": "title"},
        {"price_buckets": {"into": "custom_label_0", "buckets": [{"label": "all"}]}},
    ])
    shared = product(extra={"Coste": "5"})
    first = apply(compiled, shared)
    second = apply(compiled, shared)
    assert shared.title == "Camiseta" and shared.price == eur("19.95")
    assert shared.extra == {"Coste": "5"} and shared.custom_label_0 is None
    assert first is not None and second is not None and first is not second
    assert first.title == second.title == "ACME CAMISETA"
    assert first.extra == {"Coste": "5", "Segmento": "x"}
    assert [c.changed for c in compiled.counts()] == [2, 2, 2, 2]


@pytest.mark.parametrize(("expression", "values"), [
    ("availability != 'out_of_stock'", {"availability": "in_stock"}),
    ("price.amount < 10 or price.amount > 500", {"price": eur("9.50")}),
    ("price.amount >= 10 and not brand", {"price": eur("10"), "brand": None}),
    ("brand in ['Acme', 'Zeta']", {"brand": "Zeta"}),
    ("brand not in ('Acme',)", {"brand": "Zeta"}),
    ("'Erin' in product_type", {"product_type": "Men/Erin Recommends"}),
    ("quantity > 0", {"quantity": 0}),
])
def test_plain_expressions_agree_with_jinja(expression: str, values: dict) -> None:
    from feedsync.rules.steps import ENV, plain_expression

    fast = plain_expression(ENV.parse("{{ " + expression + " }}"))
    assert fast is not None
    assert fast(values) == ENV.compile_expression(expression)(**values)


@pytest.mark.parametrize("expression", [
    "brand | lower == 'acme'", "title.startswith('A')", "range(3)", "price.__class__",
    "extra['X'] == 'y'"])
def test_other_expressions_stay_in_the_sandbox(expression: str) -> None:
    from feedsync.rules.steps import ENV, plain_expression

    assert plain_expression(ENV.parse("{{ " + expression + " }}")) is None


def test_sandbox_blocks_unsafe_attributes(tmp_path: Path) -> None:
    compiled = rules(tmp_path, [{"set": {"title": "{{ price.__class__.__mro__ }}"}}])
    result, issues = compiled.apply(product())
    assert result is not None and result.title == "Camiseta"
    assert issues and "unsafe" in issues[0].message


@pytest.mark.parametrize("text", [
    "plain text", " leading space", "trailing space ", "two  spaces", "tab\there",
    "line\nbreak", "a &amp; b", "a &copy 2026", "<b>bold</b>", "nbsp\u00a0here", "ctrl\x07",
])
def test_plain_text_shortcut_matches_strip_html(text):
    from feedsync.checks.text import strip_html
    from feedsync.rules.steps import plain_text

    assert plain_text(text) == strip_html(text)

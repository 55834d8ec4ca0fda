"""Markets: one channel entry -> one feed per market, prices converted, texts localised."""

from __future__ import annotations

from pathlib import Path

import pytest

from feedsync.api import plan_channels, run_build
from feedsync.config import load_config
from feedsync.errors import ConfigError
from tests.channel_helpers import parse_output

_HEADER = "id;title;title_pt;description;link;image_link;price;availability;brand;shipping;quantity"
MASTER = "\n".join([
    _HEADER,
    "A1;Camiseta roja;Camiseta vermelha;Camiseta de algodón;https://t.example/a1;"
    "https://t.example/a1.jpg;19,95 EUR;in_stock;Marca;"
    "ES::Estándar:3,95 EUR, CL::Estándar:3,95 EUR;5",
    "A2;Taza;;Taza de cerámica;https://t.example/a2;https://t.example/a2.jpg;1.249,50 EUR;"
    "in_stock;Marca;;7",
]) + "\n"


def _config(folder: Path, channel: str, extra_files: dict[str, str] | None = None) -> Path:
    (folder / "master.csv").write_text(MASTER, encoding="utf-8")
    for name, text in (extra_files or {}).items():
        (folder / name).write_text(text, encoding="utf-8")
    config = folder / "feedsync.yaml"
    config.write_text("source:\n  path: master.csv\n  locale: es_ES\n"
                      "  defaults: {currency: EUR, condition: new}\n"
                      "channels:\n" + channel, encoding="utf-8")
    return config


def test_markets_expand_convert_and_round_to_the_currency(tmp_path: Path) -> None:
    config = _config(tmp_path, """\
  meta:
    spec: meta_catalog
    output: out/meta_{country}_{language}.csv
    markets:
      - {country: ES, language: es, currency: EUR}
      - {country: CL, language: es, currency: CLP}
      - {country: BR, language: pt, currency: BRL}
    rates: {CLP: 1021.37, EUR/BRL: "6,1"}
    localized_columns: {title: "title_{language}"}
""")
    report = run_build(load_config(config))
    assert list(report.channels) == ["meta.ES", "meta.CL", "meta.BR"]
    es = parse_output(tmp_path / "out" / "meta_ES_es.csv", "delimited")
    cl = parse_output(tmp_path / "out" / "meta_CL_es.csv", "delimited")
    br = parse_output(tmp_path / "out" / "meta_BR_pt.csv", "delimited")
    assert [r["price"] for r in es] == ["19.95 EUR", "1249.50 EUR"]
    # CLP has no decimals: 19.95 × 1021.37 = 20376.33 -> 20376;
    # 1249.50 × 1021.37 = 1276201.82 -> 1276202
    assert [r["price"] for r in cl] == ["20376 CLP", "1276202 CLP"]
    # Each market's feed carries only its own country's shipping, converted.
    assert cl[0]["shipping"] == "CL::Estándar:4034 CLP"
    assert es[0]["shipping"] == "ES::Estándar:3.95 EUR"
    assert br[0]["shipping"] == ""
    left_out = [i for i in report.issues if i.code == "shipping-other-country"]
    assert {(i.channel, i.value) for i in left_out} == {
        ("meta.ES", "CL"), ("meta.CL", "ES"), ("meta.BR", "CL, ES")}
    assert [r["price"] for r in br] == ["121.70 BRL", "7621.95 BRL"]
    # A localised column feeds the market's title when it has a value.
    assert [r["title"] for r in br] == ["Camiseta vermelha", "Taza"]
    assert [r["title"] for r in es] == ["Camiseta roja", "Taza"]


def test_a_market_gives_its_own_shipping_to_products_with_none_for_it(tmp_path: Path) -> None:
    config = _config(tmp_path, """\
  google:
    spec: google_merchant
    output: out/google_{country}.xml
    markets:
      - {country: ES, language: es, currency: EUR}
      - {country: MX, language: es, currency: MXN, shipping: "MX::Estándar:99 MXN"}
    rates: {MXN: 20.45}
""")
    report = run_build(load_config(config))
    mx = parse_output(tmp_path / "out" / "google_MX.xml", "xml")
    ns = "{http://base.google.com/ns/1.0}"
    for item in mx:
        shipping = item.findall(f"{ns}shipping")
        assert [(s.findtext(f"{ns}country"), s.findtext(f"{ns}price")) for s in shipping] == [
            ("MX", "99.00 MXN")]
    es = parse_output(tmp_path / "out" / "google_ES.xml", "xml")
    assert es[0].findtext(f"{ns}shipping/{ns}country") == "ES"
    assert report.channels["google.MX"].items == 2


def test_market_shipping_for_another_country_is_a_config_error(tmp_path: Path) -> None:
    config = _config(tmp_path, """\
  google:
    spec: google_merchant
    output: out/google_{country}.xml
    markets:
      - {country: MX, language: es, currency: MXN, shipping: "ES::Estándar:99 MXN"}
    rates: {MXN: 20.45}
""")
    with pytest.raises(ConfigError) as error:
        plan_channels(load_config(config))
    assert "rules for ES in the MX market" in str(error.value)


def test_rates_from_a_csv_file(tmp_path: Path) -> None:
    config = _config(tmp_path, """\
  meta:
    spec: meta_catalog
    output: out/meta_{country}.csv
    markets: [{country: MX, language: es, currency: MXN}]
    rates_file: rates.csv
""", {"rates.csv": "currency,rate\nMXN,20.45\n"})
    run_build(load_config(config))
    rows = parse_output(tmp_path / "out" / "meta_MX.csv", "delimited")
    assert rows[0]["price"] == "407.98 MXN"


def test_a_market_without_a_rate_is_a_config_error(tmp_path: Path) -> None:
    config = _config(tmp_path, """\
  meta:
    spec: meta_catalog
    output: out/meta_{country}.csv
    markets:
      - {country: ES, language: es, currency: EUR}
      - {country: MX, language: es, currency: MXN}
""")
    with pytest.raises(ConfigError) as caught:
        plan_channels(load_config(config))
    assert "no exchange rate from EUR to MXN" in str(caught.value)
    assert "channels.meta.markets[1]" in str(caught.value)


def test_several_markets_need_a_placeholder_in_the_output(tmp_path: Path) -> None:
    config = _config(tmp_path, """\
  meta:
    spec: meta_catalog
    output: out/meta.csv
    markets:
      - {country: ES, language: es, currency: EUR}
      - {country: PT, language: pt, currency: EUR}
""")
    with pytest.raises(ConfigError, match=r"needs \{country\} or \{language\}"):
        plan_channels(load_config(config))


def test_bad_rates_are_reported(tmp_path: Path) -> None:
    config = _config(tmp_path, """\
  meta:
    spec: meta_catalog
    output: out/meta_{country}.csv
    markets: [{country: MX, language: es, currency: MXN}]
    rates: {MXN: "-3", XYZ: 2}
""")
    with pytest.raises(ConfigError) as caught:
        plan_channels(load_config(config))
    message = str(caught.value)
    assert "rate must be positive" in message
    assert "'XYZ' is not a currency" in message


def test_settings_are_checked_against_the_spec(tmp_path: Path) -> None:
    config = _config(tmp_path, """\
  amazon:
    spec: amazon_listings
    output: out/amazon.json
    settings: {sellerid: A1}
""")
    with pytest.raises(ConfigError) as caught:
        plan_channels(load_config(config))
    message = str(caught.value)
    assert "channels.amazon.settings.seller_id: required by channel spec amazon_listings" in (
        message)
    assert "no setting(s) sellerid" in message


def test_market_settings_override_channel_settings(tmp_path: Path) -> None:
    config = _config(tmp_path, """\
  amazon:
    spec: amazon_listings
    output: out/amazon_{country}.json
    settings: {seller_id: A1, product_type: PRODUCT, identifier_exemption: "true"}
    markets:
      - {country: ES, language: es, currency: EUR, settings: {marketplace_id: A1RKKUPIHCS9HS}}
      - {country: FR, language: fr, currency: EUR,
         settings: {marketplace_id: A13V1IB3VIYZZH, language_tag: fr_FR}}
""")
    run_build(load_config(config))
    fr = (tmp_path / "out" / "amazon_FR.part0001.json").read_text(encoding="utf-8")
    es = (tmp_path / "out" / "amazon_ES.part0001.json").read_text(encoding="utf-8")
    assert '"marketplace_id": "A13V1IB3VIYZZH"' in fr and '"fr_FR"' in fr
    assert '"marketplace_id": "A1RKKUPIHCS9HS"' in es and '"fr_FR"' not in es


def test_a_shared_shipping_rule_is_converted_as_replace_converts_it() -> None:
    """MarketLocalizer converts each (frozen, parse-memoised) shipping rule once: every
    product sharing it gets what dataclasses.replace gives, and nothing is changed."""
    from dataclasses import replace
    from decimal import Decimal

    from feedsync.channels.markets import Market, MarketLocalizer, RateTable
    from feedsync.products.product import Money, Product, Shipping

    rule = Shipping("MX", Money(Decimal("4.95"), "EUR"), service="Std")
    other = Shipping("ES", Money(Decimal("3"), "EUR"))
    localizer = MarketLocalizer(Market("MX", "es", "MXN"),
                                RateTable({("EUR", "MXN"): Decimal("20.45")}), "google")
    expected = replace(rule, price=Money(Decimal("101.23"), "MXN"))
    for number in range(3):
        product = Product(id=f"p{number}", price=Money(Decimal("10"), "EUR"),
                          shipping=[rule, other])
        local, issues = localizer(product)
        assert local is not None and local is not product
        assert local.shipping == [expected]
        assert local.price == Money(Decimal("204.50"), "MXN")
        assert product.shipping == [rule, other]  # the product itself is left as it was
        assert [i.code for i in issues] == ["shipping-other-country"]


def test_the_localizer_gives_what_its_general_path_gives() -> None:
    """MarketLocalizer.__call__ (shipping worked out once per set of rules, rates looked
    up once per currency) against `localize_general`, the definition, on random products:
    shipping for the market's country, other countries, none, rules repeated (as parsing
    memoises them) and fresh ones, currencies with and without a rate (CLP rounds to
    units), odd prices, localised columns empty, missing or non-ASCII, a market's own
    shipping or none. Same product (or the product itself), same issues, nothing changed."""
    import copy
    import random
    from decimal import Decimal

    from feedsync.channels.markets import Market, MarketLocalizer, RateTable
    from feedsync.products.product import Money, Product, Shipping

    rng = random.Random(17)
    rates = RateTable({("EUR", "MXN"): Decimal("20.45"), ("EUR", "CLP"): Decimal("1013.7"),
                       ("USD", "MXN"): Decimal("17.1"), ("EUR", "USD"): Decimal("1.0833")})
    amounts = [Decimal("0"), Decimal("0.004"), Decimal("0.005"), Decimal("19.95"),
               Decimal("-3"), Decimal("123456789012345678.9"), Decimal("1E+3"),
               Decimal("4.9500")]

    def money() -> Money:
        return Money(rng.choice(amounts), rng.choice(["EUR", "EUR", "USD", "MXN", "GBP"]))

    shared = [Shipping(c, money(), service=rng.choice([None, "Std", "Exprés"]))
              for c in ("ES", "MX", "CL", "MX", "US") for _ in range(2)]

    def rules() -> list[Shipping]:
        return [rng.choice(shared) if rng.random() < 0.7 else
                Shipping(rng.choice(["MX", "CL", "ES"]), money(), region="R")
                for _ in range(rng.randint(0, 3))]

    localizers = []
    for country, currency in (("MX", "MXN"), ("CL", "CLP"), ("ES", "EUR"), ("US", "USD")):
        for own in (None, [Shipping(country, Money(Decimal("99"), currency))],
                    [Shipping(country, Money(Decimal("5"), "EUR"))]):
            columns = {"title": f"title_{country}", "description": "desc_x"}
            localizers.append(MarketLocalizer(Market(country, "es", currency), rates,
                                              f"shop.{country}", columns, own))
    checked = 0
    for number in range(3000):
        extra = {k: v for k, v in (("title_MX", rng.choice(["", "Camiseta", "T\u00e9 \ud800"])),
                                   ("title_CL", "Polera"), ("desc_x", rng.choice(["", "x"])))
                 if rng.random() < 0.5}
        product = Product(id=f"p{number}", row=number, title="T",
                          price=rng.choice([None, money()]),
                          sale_price=rng.choice([None, None, money()]), shipping=rules(),
                          extra=extra)
        before = copy.deepcopy(product)
        for localizer in rng.sample(localizers, 3):
            local, issues = localizer(product)
            general, general_issues = localizer.localize_general(product)
            assert (local, issues) == (general, general_issues), (localizer, product)
            assert (local is product) == (general is product)
            assert local is None or (local.shipping is product.shipping) == (
                general.shipping is product.shipping)  # a new list where it changed
            assert product == before  # the product itself is left as it was
            checked += local is not None and local is not product
    assert checked > 2000

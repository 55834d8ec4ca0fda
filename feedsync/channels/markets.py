"""Markets: one channel entry, several countries/languages/currencies, one feed each.

    channels:
      meta:
        spec: meta_catalog
        output: feeds/meta_{country}.csv
        markets:
          - {country: ES, language: es, currency: EUR}
          - {country: MX, language: es, currency: MXN}
        rates: {MXN: 20.45}                 # 1 EUR = 20.45 MXN (or rates_file: rates.csv)
        localized_columns: {title: "Nombre_{language}"}

expands into the channels `meta.ES` and `meta.MX`. Each market sees every product through
a `MarketLocalizer`: prices (price, sale_price, shipping) converted with the declared rate
and rounded to the currency's decimals (0 for CLP or COP), and titles or descriptions taken
from the market's localised columns when they have a value. A market whose currency has no
rate is a config error, never a silent 1:1.

Shipping follows the market: a market's feed carries only the shipping rules for its own
country (a channel rejects `<g:country>ES</g:country>` in the Mexican feed, or charges
it as shipping to Spain), and a market may give `shipping:` for the products whose master
has no rule for its country.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from feedsync.channels.spec import ChannelSpec
from feedsync.checks import codes
from feedsync.checks.issue import Issue, Severity
from feedsync.config import ChannelConfig, Config
from feedsync.products.numbers import currency_decimals, currency_quantum, iso_currencies
from feedsync.products.parse import FieldProblem, parse_shipping
from feedsync.products.product import Money, Product, Shipping
from feedsync.rules.steps.base import copy_product

_PLACEHOLDERS = ("{country}", "{language}", "{currency}")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})?$")
_LOCALIZABLE = {"title", "description", "link", "product_type", "color", "size", "material",
                "pattern"}


@dataclass(frozen=True)
class Market:
    country: str
    language: str
    currency: str

    def as_context(self) -> dict[str, str]:
        return {"country": self.country, "language": self.language, "currency": self.currency}

    def fill(self, text: str) -> str:
        return (text.replace("{country}", self.country).replace("{language}", self.language)
                .replace("{currency}", self.currency))


class RateTable:
    """Exchange rates as declared: (from, to) -> Decimal; a currency to itself is 1."""

    def __init__(self, rates: dict[tuple[str, str], Decimal]) -> None:
        self.rates = rates

    def rate(self, source: str, target: str) -> Decimal | None:
        if source == target:
            return Decimal(1)
        return self.rates.get((source, target))

    @classmethod
    def from_config(cls, channel: ChannelConfig, base: str | None, rates_path: Path | None,
                    where: str, problems: list[str]) -> RateTable:
        table: dict[tuple[str, str], Decimal] = {}
        entries: list[tuple[str, str, str]] = []
        for key, value in channel.rates.items():
            entries.append((key, str(value), f"{where}.rates.{key}"))
        if rates_path is not None:
            entries += _read_rates_csv(rates_path, where, problems)
        for key, value, place in entries:
            pair = key.upper().replace(" ", "").split("/")
            if len(pair) == 1:
                if base is None:
                    problems.append(f"{place}: a rate without a base currency; write FROM/TO "
                                    "or set base_currency (or source.defaults.currency)")
                    continue
                pair = [base, pair[0]]
            if len(pair) != 2 or not all(c in iso_currencies() for c in pair):
                problems.append(f"{place}: {key!r} is not a currency or a FROM/TO pair")
                continue
            try:
                rate = Decimal(value.replace(",", "."))
            except InvalidOperation:
                problems.append(f"{place}: rate {value!r} is not a number")
                continue
            if rate <= 0:
                problems.append(f"{place}: rate must be positive")
                continue
            table[(pair[0], pair[1])] = rate
        return cls(table)


def _read_rates_csv(path: Path, where: str, problems: list[str]) -> list[tuple[str, str, str]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        problems.append(f"{where}.rates_file: cannot read {path}: {exc.strerror or exc}")
        return []
    entries = []
    for number, row in enumerate(rows, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        place = f"{path.name}:{number}"
        if "rate" not in row or not ({"currency"} <= set(row) or {"from", "to"} <= set(row)):
            problems.append(f"{where}.rates_file: {path.name} needs the columns currency,rate "
                            "or from,to,rate")
            return []
        key = row["currency"] if "currency" in row else f"{row['from']}/{row['to']}"
        entries.append((key, row["rate"], place))
    return entries


# A market's work on one set of shipping rules (MarketLocalizer._shipping_plan): the rules
# it keeps (converted) or None, the countries left out and the message, the currency
# without a rate, and the rules themselves.
_ShippingPlan = tuple[tuple[Shipping, ...] | None, tuple[str, str] | None, str | None,
                      tuple[Shipping, ...]]
_UNKNOWN: Any = object()  # a currency not looked up yet


@dataclass
class MarketLocalizer:
    """A market's view of a product: converted prices and localised texts."""

    market: Market
    rates: RateTable
    channel: str
    columns: dict[str, str] = field(default_factory=dict)  # field -> master column
    shipping: list[Shipping] | None = None  # the market's own, for products with none

    # Shipping rules converted to the market's currency, by the rule (parsing memoises
    # repeated rules, so the same frozen objects recur): converted once each, not once per
    # product. Bounded like render._shipping_groups. (The general path's memo.)
    _converted_rules: dict[int, tuple[Shipping, Shipping]] = field(
        default_factory=dict, repr=False, compare=False)
    # What the market does to a product's shipping rules, by the rules' identities: the
    # rules parsing memoises recur, so most products' rules are worked out once (see
    # _shipping_plan). An entry holds its rules, so their ids cannot be reused meanwhile.
    _plans: dict[tuple[int, ...], _ShippingPlan] = field(
        default_factory=dict, repr=False, compare=False)
    # Per source currency: (rate, the target currency's quantum), or None without a rate.
    _factors: dict[str, tuple[Decimal, Decimal] | None] = field(
        default_factory=dict, repr=False, compare=False)

    def __call__(self, product: Product) -> tuple[Product | None, list[Issue]]:
        """The market's view of `product` (a copy, or the product itself when nothing
        changes) and the issues on the way; None with the error when a price cannot be
        converted. `localize_general` is the definition: this gives what it gives, with
        the shipping worked out once per set of rules and the rates looked up once per
        currency (a market feed localises every product: ~13 us each before)."""
        shipping = product.shipping
        plan = None
        if shipping or self.shipping:
            plan = self._plans.get(tuple(map(id, shipping)))
            if plan is None:
                plan = self._shipping_plan(shipping)
        target = self.market.currency
        price = original_price = product.price
        if price is not None and price.currency != target:
            converted = self._convert_fast(price)
            if converted is None:
                return None, [self._no_rate(product, "price", price.currency)]
            price = converted
        sale_price = original_sale = product.sale_price
        if sale_price is not None and sale_price.currency != target:
            converted = self._convert_fast(sale_price)
            if converted is None:
                return None, [self._no_rate(product, "sale_price", sale_price.currency)]
            sale_price = converted
        issues: list[Issue] = []
        rules = None
        if plan is not None:
            rules, left_out, no_rate, _ = plan
            if no_rate is not None:
                return None, [self._no_rate(product, "shipping", no_rate)]
            if left_out is not None:
                issues.append(Issue(
                    codes.SHIPPING_OTHER_COUNTRY, Severity.INFO, left_out[1],
                    row=product.row, product_id=product.id, field="shipping",
                    value=left_out[0], channel=self.channel))
        texts = None
        if self.columns:
            extra = product.extra
            texts = [(name, text) for name, column in self.columns.items()
                     if (text := extra.get(column))]
        if rules is None and price is original_price and sale_price is original_sale \
                and not texts:
            return product, issues
        local = copy_product(product)
        local.price = price
        local.sale_price = sale_price
        if rules is not None:
            local.shipping = list(rules)  # each product its own list, as before
        if texts:
            for name, text in texts:
                setattr(local, name, text)
        return local, issues

    def _shipping_plan(self, shipping: list[Shipping]) -> _ShippingPlan:
        """What `localize_general` does to these shipping rules: (the rules the market
        keeps, converted, or None when they stay as they are; the other countries left
        out and the message saying so, or None; the currency without a rate, or None)."""
        country, target = self.market.country, self.market.currency
        here = [r for r in shipping if r.country == country]
        left_out = None
        if len(here) != len(shipping):
            others = ", ".join(sorted({r.country for r in shipping} - {country}))
            left_out = (others, f"shipping for {others} is left out of the {country} feed"
                        + (", which uses the market's own shipping" if not here
                           and self.shipping else ""))
        if not here and self.shipping:
            here = list(self.shipping)
        changed = here != shipping
        no_rate = None
        if here and any(s.price.currency != target for s in here):
            converted = []
            for rule in here:
                price = self._convert_fast(rule.price)
                if price is None:
                    no_rate = rule.price.currency
                    break
                converted.append(replace(rule, price=price))
            here, changed = converted, True
        # The plan holds the rules it is keyed by: while it is kept, their ids are theirs.
        plan = (tuple(here) if changed else None, left_out, no_rate, tuple(shipping))
        if len(self._plans) < 4096:
            self._plans[tuple(map(id, shipping))] = plan
        return plan

    def _convert_fast(self, money: Money) -> Money | None:
        """`_convert`, with the rate and the quantum looked up once per currency."""
        factors = self._factors.get(money.currency, _UNKNOWN)
        if factors is _UNKNOWN:
            rate = self.rates.rate(money.currency, self.market.currency)
            factors = self._factors[money.currency] = None if rate is None else (
                rate, currency_quantum(self.market.currency))
        if factors is None:
            return None
        rate, quantum = factors
        return Money((money.amount * rate).quantize(quantum, rounding=ROUND_HALF_UP),
                     self.market.currency)

    def localize_general(self, product: Product) -> tuple[Product | None, list[Issue]]:
        """The definition of a market's view of a product (what `__call__` gives, the
        test compares both): shipping for the market's country only (or the market's
        own), prices and shipping converted, localised texts from their columns."""
        changes: dict[str, Any] = {}
        issues: list[Issue] = []
        target = self.market.currency
        shipping = product.shipping
        if shipping or self.shipping:
            here = [r for r in shipping if r.country == self.market.country]
            if len(here) != len(shipping):
                others = sorted({r.country for r in shipping} - {self.market.country})
                issues.append(Issue(
                    codes.SHIPPING_OTHER_COUNTRY, Severity.INFO,
                    f"shipping for {', '.join(others)} is left out of the "
                    f"{self.market.country} feed"
                    + (", which uses the market's own shipping" if not here and self.shipping
                       else ""),
                    row=product.row, product_id=product.id, field="shipping",
                    value=", ".join(others), channel=self.channel))
            if not here and self.shipping:
                here = list(self.shipping)
            if here != shipping:
                # one copy of the product at the end (copy_with), not one more here
                shipping = changes["shipping"] = here
        for name in ("price", "sale_price"):
            money = getattr(product, name)
            if money is not None and money.currency != target:
                converted = self._convert(money)
                if converted is None:
                    return None, [self._no_rate(product, name, money.currency)]
                changes[name] = converted
        if shipping and any(s.price.currency != target for s in shipping):
            rules = []
            for rule in shipping:
                known = self._converted_rules.get(id(rule))
                if known is not None and known[0] is rule:
                    rules.append(known[1])
                    continue
                price = self._convert(rule.price)
                if price is None:
                    return None, [self._no_rate(product, "shipping", rule.price.currency)]
                converted_rule = replace(rule, price=price)
                if len(self._converted_rules) < 4096:
                    self._converted_rules[id(rule)] = (rule, converted_rule)
                rules.append(converted_rule)
            changes["shipping"] = rules
        for name, column in self.columns.items():
            text = product.extra.get(column)
            if text:
                changes[name] = text
        if not changes:
            return product, issues
        return product.copy_with(**changes), issues

    def _convert(self, money: Money) -> Money | None:
        rate = self.rates.rate(money.currency, self.market.currency)
        if rate is None:
            return None
        quantum = Decimal(1).scaleb(-currency_decimals(self.market.currency))
        amount = (money.amount * rate).quantize(quantum, rounding=ROUND_HALF_UP)
        return Money(amount, self.market.currency)

    def _no_rate(self, product: Product, name: str, currency: str) -> Issue:
        return Issue(codes.NO_EXCHANGE_RATE, Severity.ERROR,
                     f"no exchange rate from {currency} to {self.market.currency} for market "
                     f"{self.market.country}", row=product.row, product_id=product.id,
                     field=name, value=currency, channel=self.channel)


@dataclass
class ChannelVariant:
    """One feed a channel entry expands into: the channel itself, or one per market."""

    name: str
    market: Market | None
    settings: dict[str, str]
    localize: Callable[[Product], tuple[Product | None, list[Issue]]] | None = None
    attributes: dict[str, str] = field(default_factory=dict)  # the config's `attributes:`

    def output_path(self, path: str) -> str:
        return self.market.fill(path) if self.market else path

    def context(self, feed: Any) -> dict[str, Any]:
        market = self.market.as_context() if self.market else {
            "country": "", "language": "", "currency": ""}
        return {"settings": dict(self.settings), "market": market,
                "feed": feed.model_dump() if hasattr(feed, "model_dump") else dict(feed),
                "attributes": dict(self.attributes)}


def expand_channel(config: Config, name: str, channel: ChannelConfig, spec: ChannelSpec,
                   problems: list[str]) -> list[ChannelVariant]:
    """The feeds a channel entry stands for, with its settings checked against the spec."""
    where = f"channels.{name}"
    if not channel.markets:
        settings = _settings(spec, channel.settings, {}, where, problems)
        _resolve_paths(config, spec, settings, where, problems)
        return [ChannelVariant(name, None, settings, attributes=dict(channel.attributes))]
    base = (channel.base_currency or config.source.defaults.get("currency") or "").upper() or None
    rates_path = config.resolve(channel.rates_file) if channel.rates_file else None
    rates = RateTable.from_config(channel, base, rates_path, where, problems)
    countries = [m.country for m in channel.markets]
    variants = []
    seen_keys: set[str] = set()
    for index, market_config in enumerate(channel.markets):
        market = Market(market_config.country, market_config.language.lower(),
                        market_config.currency)
        place = f"{where}.markets[{index}]"
        # Codes go into file names ({country}, {language}): `../..` or `/` would place a
        # feed outside its folder, so only real codes are accepted.
        if not _COUNTRY.match(market.country):
            problems.append(f"{place}.country: {market.country!r} is not an ISO 3166-1 "
                            "country code (two letters, e.g. ES)")
            continue
        if not _LANGUAGE.match(market.language):
            problems.append(f"{place}.language: {market.language!r} is not a language code "
                            "(ISO 639-1, e.g. es, optionally with a region: es-MX)")
            continue
        if market.currency not in iso_currencies():
            problems.append(f"{place}.currency: {market.currency} is not an ISO 4217 currency")
            continue
        if base is None and not any(t == market.currency for _, t in rates.rates):
            problems.append(f"{place}: no base currency to convert prices to "
                            f"{market.currency} from; set base_currency or "
                            "source.defaults.currency")
        elif base is not None and rates.rate(base, market.currency) is None:
            problems.append(f"{place}: no exchange rate from {base} to {market.currency}; "
                            f"add `{market.currency}: RATE` under {where}.rates or to the "
                            "rates_file (feedsync never converts 1:1 silently)")
            continue
        key = market.country if countries.count(market.country) == 1 else (
            f"{market.country}-{market.language}")
        if key in seen_keys:
            problems.append(f"{place}: market {key} is listed twice")
            continue
        seen_keys.add(key)
        columns = {}
        for field_name, pattern in channel.localized_columns.items():
            if field_name not in _LOCALIZABLE:
                problems.append(f"{where}.localized_columns.{field_name}: only "
                                f"{', '.join(sorted(_LOCALIZABLE))} can be localised")
                continue
            columns[field_name] = market.fill(pattern)
        settings = _settings(spec, channel.settings, market_config.settings, place, problems)
        _resolve_paths(config, spec, settings, place, problems)
        variant_name = f"{name}.{key}"
        shipping = None
        if market_config.shipping:
            try:
                shipping = parse_shipping(market_config.shipping, config.source.locale,
                                          market.currency)
            except FieldProblem as problem:
                problems.append(f"{place}.shipping: {problem.message}")
                continue
            wrong = sorted({r.country for r in shipping} - {market.country})
            if wrong:
                problems.append(f"{place}.shipping: rules for {', '.join(wrong)} in the "
                                f"{market.country} market")
        localizer = MarketLocalizer(market, rates, variant_name, columns, shipping)
        variants.append(ChannelVariant(variant_name, market, settings, localizer,
                                       dict(channel.attributes)))
    if len(channel.markets) > 1:
        for output in channel.resolved_outputs():
            if not any(p in output.path for p in _PLACEHOLDERS[:2]):
                problems.append(f"{where}: output {output.path} needs {{country}} or "
                                "{language} in its name, or every market overwrites it")
    return variants


def _settings(spec: ChannelSpec, channel: dict[str, str], market: dict[str, str], where: str,
              problems: list[str]) -> dict[str, str]:
    given = {**channel, **market}
    unknown = sorted(set(given) - set(spec.settings))
    if unknown:
        known = ", ".join(sorted(spec.settings)) or "none"
        problems.append(f"{where}.settings: {spec.name} has no setting(s) "
                        f"{', '.join(unknown)} (it has: {known})")
    settings: dict[str, str] = {}
    for key, default in spec.settings.items():
        value = given.get(key, default)
        if value is None:
            problems.append(f"{where}.settings.{key}: required by channel spec {spec.name}")
            continue
        settings[key] = value
    return settings


def _resolve_paths(config: Config, spec: ChannelSpec, settings: dict[str, str], where: str,
                   problems: list[str]) -> None:
    """A setting naming files (product type definitions) is relative to the config."""
    if spec.product_types is None:
        return
    key = spec.product_types.setting
    value = settings.get(key)
    if not value:
        return
    path = config.resolve(value)
    if not path.exists():
        problems.append(f"{where}.settings.{key}: {path} does not exist")
        return
    settings[key] = str(path)

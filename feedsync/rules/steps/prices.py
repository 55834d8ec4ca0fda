"""Price steps: markup, discount, add_vat, remove_vat, round_price, convert_currency, campaign."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import ClassVar

from feedsync.products.dates import DateFormatError, parse_datetime
from feedsync.products.numbers import NumberFormatError, currency_decimals, parse_decimal
from feedsync.products.product import DateWindow, Money, Product
from feedsync.rules.model import CampaignParams, ConvertParams, PercentParams, RoundParams
from feedsync.rules.steps.base import (
    MONEY_FIELDS,
    CompileContext,
    DocRow,
    RunState,
    Step,
    StepError,
    field_value,
    register_step,
    round_money,
    text_of,
    updated,
)
from feedsync.rules.tables import TableError, read_rows
from feedsync.yamlpos import Location

HUNDRED = Decimal(100)


def money_fields(rules: CompileContext, fields: list[str], loc: Location) -> bool:
    """True when every field is a price field; reports the others."""
    bad = [f for f in fields if f not in MONEY_FIELDS]
    if bad:
        rules.problem((*loc, "fields"), f"{', '.join(bad)} is not a price field (use price, "
                                        "sale_price)")
    return not bad


class PriceMath(Step):
    """Every money field times a factor, rounded to its currency's decimals."""

    params = PercentParams
    shorthand = "percent"
    docs = (DocRow("`markup`, `discount`, `add_vat`, `remove_vat`: PERCENT (or `{percent, "
                   "fields, as_sale_price}`)", "price maths on price and sale_price, rounded "
                   "to the currency's decimals"),)
    # A discount of 100% or more would leave no price; only a discount can be a sale price.
    below_hundred: ClassVar[bool] = False
    can_be_sale_price: ClassVar[bool] = False

    def __init__(self, fields: list[str], factor: Decimal, into: str | None = None) -> None:
        super().__init__()
        self.fields = fields
        self.factor = factor
        self.into = into

    @staticmethod
    def factor_for(percent: Decimal) -> Decimal:
        raise NotImplementedError

    @classmethod
    def build(cls, p: PercentParams, rules: CompileContext, loc: Location) -> Step | None:
        if not money_fields(rules, p.fields, loc):
            return None
        if p.percent < 0 or (cls.below_hundred and p.percent >= 100):
            rules.problem(loc, f"{cls.name} percent must be between 0 and 100")
            return None
        factor = cls.factor_for(p.percent)
        into = None
        fields = p.fields
        if p.as_sale_price:
            if not cls.can_be_sale_price:
                rules.problem((*loc, "as_sale_price"), "only a discount can be a sale price")
                return None
            fields, into = ["price"], "sale_price"
        step = cls(fields, factor, into)
        step.label = f"{cls.name} {p.percent}%" + (" as sale_price" if into else "")
        return step

    def apply(self, product: Product, state: RunState) -> Product | None:
        changes = {}
        for name in self.fields:
            money = field_value(product, name)
            if isinstance(money, Money):
                amount = round_money(money.amount * self.factor, money.currency)
                changes[self.into or name] = Money(amount, money.currency)
        if not changes:
            state.note = "no price to change"
        return updated(state, product, changes)


@register_step
class Markup(PriceMath):
    name = "markup"

    @staticmethod
    def factor_for(percent: Decimal) -> Decimal:
        return (HUNDRED + percent) / HUNDRED


@register_step
class Discount(PriceMath):
    name = "discount"
    below_hundred = True
    can_be_sale_price = True

    @staticmethod
    def factor_for(percent: Decimal) -> Decimal:
        return (HUNDRED - percent) / HUNDRED


@register_step
class AddVat(PriceMath):
    name = "add_vat"

    @staticmethod
    def factor_for(percent: Decimal) -> Decimal:
        return (HUNDRED + percent) / HUNDRED


@register_step
class RemoveVat(PriceMath):
    name = "remove_vat"

    @staticmethod
    def factor_for(percent: Decimal) -> Decimal:
        return HUNDRED / (HUNDRED + percent)


def price_ending(amount: Decimal, ending: Decimal, direction: str) -> Decimal:
    """The price nearest `amount` (above, below or either way) that ends in `ending`."""
    candidate = Decimal(math.floor(amount)) + ending
    if direction == "up":
        return candidate if candidate >= amount else candidate + 1
    if direction == "down":
        below = candidate if candidate <= amount else candidate - 1
        return below if below > 0 else below + 1
    candidates = [c for c in (candidate - 1, candidate, candidate + 1) if c > 0]
    return min(candidates, key=lambda c: (abs(c - amount), -c))


@register_step
class RoundPrice(Step):
    name = "round_price"
    params = RoundParams
    shorthand = "to"
    docs = (DocRow("`round_price: .99` (or `{to: .95, direction: up/down/nearest}`)",
                   "charm prices ending in .99/.95/.90/.00"),)

    def __init__(self, fields: list[str], ending: Decimal, direction: str) -> None:
        super().__init__()
        self.fields = fields
        self.ending = ending
        self.direction = direction

    @classmethod
    def build(cls, p: RoundParams, rules: CompileContext, loc: Location) -> Step | None:
        if not money_fields(rules, p.fields, loc):
            return None
        step = cls(p.fields, p.to, p.direction)
        step.label = f"round_price to {str(p.to).lstrip('0')} ({p.direction})"
        return step

    def apply(self, product: Product, state: RunState) -> Product | None:
        changes = {}
        for name in self.fields:
            money = field_value(product, name)
            if isinstance(money, Money) and currency_decimals(money.currency) > 0:
                changes[name] = Money(price_ending(money.amount, self.ending, self.direction),
                                      money.currency)
        return updated(state, product, changes)


@register_step
class ConvertCurrency(Step):
    name = "convert_currency"
    params = ConvertParams
    docs = (DocRow("`convert_currency: {to: USD, rates: FILE or {EUR: 1.08}}`",
                   "convert prices with a rates table"),)

    def __init__(self, fields: list[str], to: str, rates: dict[str, Decimal]) -> None:
        super().__init__()
        self.fields = fields
        self.to = to
        self.rates = rates

    @classmethod
    def build(cls, p: ConvertParams, rules: CompileContext, loc: Location) -> Step | None:
        if not money_fields(rules, p.fields, loc):
            return None
        rates: dict[str, Decimal] = {}
        if isinstance(p.rates, dict):
            rates = {k.upper(): v for k, v in p.rates.items()}
        else:
            loaded = rules.table(p.rates, None, None, (*loc, "rates"))
            if loaded is None:
                return None
            for key, value in loaded[0].items():
                try:
                    rates[key.strip().upper()] = parse_decimal(value or "")
                except NumberFormatError:
                    rules.problem((*loc, "rates"), f"{loaded[1]}: rate {value!r} for {key} is "
                                                   "not a number")
        step = cls(p.fields, p.to.upper(), rates)
        step.label = f"convert_currency to {p.to.upper()}"
        return step

    def apply(self, product: Product, state: RunState) -> Product | None:
        changes = {}
        for name in self.fields:
            money = field_value(product, name)
            if not isinstance(money, Money) or money.currency == self.to:
                continue
            rate = self.rates.get(money.currency)
            if rate is None:
                raise StepError(f"the rates table has no rate for {money.currency}")
            changes[name] = Money(round_money(money.amount * rate, self.to), self.to)
        return updated(state, product, changes)


@dataclass(frozen=True)
class CampaignEntry:
    window: DateWindow
    percent: Decimal | None
    sale_price: Decimal | None


@register_step
class Campaign(Step):
    name = "campaign"
    params = CampaignParams
    shorthand = "table"
    docs = (DocRow("`campaign: FILE` (or `{table, key}`)", "set sale_price and its dates from "
                   "a CSV with `id`, `discount` (%) or `sale_price`, `start`, `end`; ended "
                   "campaigns are ignored"),)

    def __init__(self, key: str, entries: dict[str, list[CampaignEntry]], file: str,
                 now: datetime) -> None:
        super().__init__()
        self.key = key
        self.entries = entries
        self.file = file
        self.now = now

    @classmethod
    def build(cls, p: CampaignParams, rules: CompileContext, loc: Location) -> Step | None:
        rules.read_field(p.key, (*loc, "key"))
        try:
            rows = read_rows(rules.path(p.table, loc))
        except TableError as exc:
            rules.problem((*loc, "table"), str(exc))
            return None
        file = Path(p.table).name
        entries: dict[str, list[CampaignEntry]] = {}
        for row in rows:
            where = f"{file}:{row['_line']}"
            try:
                start = parse_datetime(row.get("start", ""), tz=rules.tz)
                end = parse_datetime(row.get("end", ""), tz=rules.tz, end_of_day=True)
                percent = Decimal(row["discount"]) if row.get("discount") else None
                sale = parse_decimal(row["sale_price"]) if row.get("sale_price") else None
            except (DateFormatError, InvalidOperation, NumberFormatError) as exc:
                rules.problem((*loc, "table"), f"{where}: {exc}")
                continue
            if (percent is None) == (sale is None):
                rules.problem((*loc, "table"), f"{where}: give either discount or sale_price")
                continue
            if end <= start:
                rules.problem((*loc, "table"), f"{where}: the campaign ends before it starts")
                continue
            key = row.get(p.key, "")
            if not key:
                rules.problem((*loc, "table"), f"{where}: no {p.key} (the key column)")
                continue
            entries.setdefault(key, []).append(CampaignEntry(DateWindow(start, end), percent,
                                                             sale))
        step = cls(p.key, entries, file, rules.now)
        step.label = f"campaign {file}"
        return step

    def apply(self, product: Product, state: RunState) -> Product | None:
        key = text_of(product, self.key)
        entries = self.entries.get(key or "", [])
        live = [e for e in entries if e.window.end >= self.now]
        if not live:
            state.note = (f"{self.key} {key!r} has only ended campaigns in {self.file}" if entries
                          else f"{self.key} {key!r} is not in {self.file}")
            return product
        entry = min(live, key=lambda e: e.window.start)
        price = product.price
        if price is None:
            raise StepError("a campaign needs a price")
        if entry.sale_price is not None:
            amount = round_money(entry.sale_price, price.currency)
        else:
            assert entry.percent is not None
            amount = round_money(price.amount * (100 - entry.percent) / 100, price.currency)
        return updated(state, product, {"sale_price": Money(amount, price.currency),
                                 "sale_price_effective_date": entry.window})

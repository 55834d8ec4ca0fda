"""Custom-label steps: price_buckets, margin_bands, new_arrivals, best_sellers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal
from pathlib import Path

from feedsync.products.dates import DateFormatError, parse_datetime
from feedsync.products.product import Product
from feedsync.rules.model import (
    Band,
    BestSellersParams,
    MarginBandsParams,
    NewArrivalsParams,
    PriceBucketsParams,
)
from feedsync.rules.steps.base import (
    CompileContext,
    DocRow,
    RunState,
    Step,
    StepError,
    field_value,
    is_empty,
    number_of,
    register_step,
    set_one,
    text_of,
)
from feedsync.rules.tables import TableError, read_ids
from feedsync.yamlpos import Location


def band_label(value: Decimal, bands: list[tuple[Decimal | None, str]]) -> str | None:
    for below, label in bands:
        if below is None or value < below:
            return label
    return None


def bands_of(bands: list[Band]) -> list[tuple[Decimal | None, str]]:
    return [(b.below, b.label) for b in bands]


@register_step
class PriceBuckets(Step):
    name = "price_buckets"
    params = PriceBucketsParams
    docs = (DocRow("`price_buckets: {into, field, buckets: [{below, label}...]}`",
                   "label by price band"),)

    def __init__(self, into: str, source: str, bands: list[tuple[Decimal | None, str]],
                 locale: str | None) -> None:
        super().__init__()
        self.into = into
        self.source = source
        self.bands = bands
        self.locale = locale

    @classmethod
    def build(cls, p: PriceBucketsParams, rules: CompileContext,
              loc: Location) -> Step | None:
        if not (rules.read_field(p.field, (*loc, "field")) and rules.write_field(p.into, loc)):
            return None
        step = cls(p.into, p.field, bands_of(p.buckets), rules.locale)
        step.label = f"price_buckets {p.field} -> {p.into}"
        return step

    def apply(self, product: Product, state: RunState) -> Product | None:
        value = field_value(product, self.source)
        if is_empty(value):
            state.note = f"{self.source} is empty"
            return product
        label = band_label(number_of(value, self.locale), self.bands)
        return set_one(state, product, self.into, label)


@register_step
class MarginBands(Step):
    name = "margin_bands"
    params = MarginBandsParams
    docs = (DocRow("`margin_bands: {into, cost, bands: [{below, label}...]}`",
                   "label by margin % from a cost column"),)

    def __init__(self, into: str, cost: str, price_field: str,
                 bands: list[tuple[Decimal | None, str]], locale: str | None) -> None:
        super().__init__()
        self.into = into
        self.cost = cost
        self.price_field = price_field
        self.bands = bands
        self.locale = locale

    @classmethod
    def build(cls, p: MarginBandsParams, rules: CompileContext,
              loc: Location) -> Step | None:
        ok = all([rules.read_field(p.cost, (*loc, "cost")),
                  rules.read_field(p.price_field, (*loc, "price_field")),
                  rules.write_field(p.into, (*loc, "into"))])
        if not ok:
            return None
        step = cls(p.into, p.cost, p.price_field, bands_of(p.bands), rules.locale)
        step.label = f"margin_bands {p.cost} -> {p.into}"
        return step

    def apply(self, product: Product, state: RunState) -> Product | None:
        price, cost = field_value(product, self.price_field), field_value(product, self.cost)
        if is_empty(price) or is_empty(cost):
            state.note = f"needs both {self.price_field} and {self.cost}"
            return product
        amount = number_of(price, self.locale)
        if amount <= 0:
            raise StepError(f"{self.price_field} must be more than 0 for a margin")
        margin = (amount - number_of(cost, self.locale)) / amount * 100
        return set_one(state, product, self.into, band_label(margin, self.bands))


@register_step
class NewArrivals(Step):
    name = "new_arrivals"
    params = NewArrivalsParams
    docs = (DocRow("`new_arrivals: {into, date, days, label, otherwise}`",
                   "label products whose date column is recent"),)

    def __init__(self, into: str, date: str, days: int, label: str, otherwise: str | None,
                 now: datetime, locale: str | None, date_format: str | None, tz: tzinfo) -> None:
        super().__init__()
        self.into = into
        self.date = date
        self.since = now - timedelta(days=days)
        self.hit = label
        self.otherwise = otherwise
        self.parse: Callable[[str], datetime] = lambda text: parse_datetime(
            text, locale=locale, date_format=date_format, tz=tz)

    @classmethod
    def build(cls, p: NewArrivalsParams, rules: CompileContext,
              loc: Location) -> Step | None:
        if not (rules.read_field(p.date, (*loc, "date")) and rules.write_field(p.into, loc)):
            return None
        step = cls(p.into, p.date, p.days, p.label, p.otherwise, rules.now, rules.locale,
                   rules.date_format, rules.tz)
        step.label = f"new_arrivals {p.date} within {p.days} days -> {p.into}"
        return step

    def apply(self, product: Product, state: RunState) -> Product | None:
        value = field_value(product, self.date)
        if is_empty(value):
            state.note = f"{self.date} is empty"
            if self.otherwise:
                return set_one(state, product, self.into, self.otherwise)
            return product
        if not isinstance(value, datetime):
            try:
                value = self.parse(str(value))
            except DateFormatError as exc:
                raise StepError(f"{self.date} {value!r} is not a date: {exc}") from exc
        label = self.hit if value >= self.since else self.otherwise
        if label is None:
            state.note = f"{self.date} is before {self.since.date().isoformat()}"
            return product
        return set_one(state, product, self.into, label)


@register_step
class BestSellers(Step):
    name = "best_sellers"
    params = BestSellersParams
    docs = (DocRow("`best_sellers: {into, ids, label, otherwise}`",
                   "label products listed in a file"),)

    def __init__(self, into: str, match: str, ids: frozenset[str], label: str,
                 otherwise: str | None, file: str) -> None:
        super().__init__()
        self.into = into
        self.match = match
        self.ids = ids
        self.hit = label
        self.otherwise = otherwise
        self.file = file

    @classmethod
    def build(cls, p: BestSellersParams, rules: CompileContext,
              loc: Location) -> Step | None:
        if not (rules.read_field(p.match, (*loc, "match")) and rules.write_field(p.into, loc)):
            return None
        try:
            ids = read_ids(rules.path(p.ids, loc))
        except TableError as exc:
            rules.problem((*loc, "ids"), str(exc))
            return None
        step = cls(p.into, p.match, ids, p.label, p.otherwise, Path(p.ids).name)
        step.label = f"best_sellers {Path(p.ids).name} -> {p.into}"
        return step

    def apply(self, product: Product, state: RunState) -> Product | None:
        listed = (text_of(product, self.match) or "") in self.ids
        label = self.hit if listed else self.otherwise
        if label is None:
            state.note = f"{self.match} is not in {self.file}"
            return product
        return set_one(state, product, self.into, label)

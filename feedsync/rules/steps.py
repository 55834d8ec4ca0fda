"""Rule steps at run time: each one takes a Product and returns it, a changed copy, or None.

A step never mutates the product it is given (other channels share it): it returns the same
object when nothing changes and a `dataclasses.replace` copy when something does, so "did this
rule change the product" is an identity test. Problems with one product are `StepError`s,
which the runner turns into warnings for that product and channel.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from jinja2 import TemplateError

from feedsync.checks.text import (
    collapse_whitespace,
    needs_cleaning,
    strip_html,
    truncate_words,
)
from feedsync.products.dates import DateFormatError, parse_datetime
from feedsync.products.numbers import (
    NumberFormatError,
    currency_decimals,
    parse_decimal,
    split_money,
)
from feedsync.products.product import (
    CANONICAL_FIELDS,
    ENUMS,
    DateWindow,
    Money,
    Product,
)
from feedsync.rules.taxonomy import Taxonomy
from feedsync.templating import template_environment

ENV = template_environment()

TEXT_FIELDS = frozenset({
    "id", "title", "description", "link", "image_link", "brand", "gtin", "mpn",
    "google_product_category", "product_type", "item_group_id", "color", "size", "material",
    "pattern", "custom_label_0", "custom_label_1", "custom_label_2", "custom_label_3",
    "custom_label_4"})
MONEY_FIELDS = frozenset({"price", "sale_price"})
# Fields a rule may write; the rest (dates, shipping, weights) keep their master value.
SETTABLE_FIELDS = TEXT_FIELDS | MONEY_FIELDS | frozenset(ENUMS) | frozenset(
    {"quantity", "identifier_exists", "additional_image_link"})
_PLAIN_TEXT = TEXT_FIELDS - {"description"}
_LIST_SPLIT = re.compile(r"\s*[,|\n]\s*")


class StepError(Exception):
    """This step cannot be applied to this product (bad data, not bad config)."""


# -- expressions and templates ------------------------------------------------------------

_CANONICAL = frozenset(CANONICAL_FIELDS)


def field_value(product: Product, name: str) -> Any:
    """Product.get without its tuple scan (this runs for every rule and product)."""
    return getattr(product, name) if name in _CANONICAL else product.extra.get(name)


def context(product: Product, names: tuple[str, ...]) -> dict[str, Any]:
    return {n: getattr(product, n) if n in _CANONICAL else
            product.extra if n == "extra" else product.extra.get(n) for n in names}


@dataclass(frozen=True)
class Expression:
    source: str
    names: tuple[str, ...]
    evaluate: Callable[..., Any]

    fast: Callable[[dict[str, Any]], Any] | None = None

    def __call__(self, product: Product) -> Any:
        if self.fast is not None:
            return self.fast(context(product, self.names))
        return self.evaluate(**context(product, self.names))


@dataclass(frozen=True)
class Template:
    source: str
    names: tuple[str, ...]
    render_fn: Callable[[dict[str, Any]], str] | None  # None: plain text, no Jinja

    def __call__(self, product: Product) -> str:
        if self.render_fn is None:
            return self.source
        return self.render_fn(context(product, self.names))


def plain_substitution(ast: Any) -> Callable[[dict[str, Any]], str] | None:
    """For templates that only put fields between text (`{{ brand }} {{ title }}`, the
    usual case), a renderer that skips Jinja's per-call context set-up; None otherwise."""
    from jinja2 import nodes

    parts: list[tuple[bool, str]] = []
    for node in ast.body:
        if not isinstance(node, nodes.Output):
            return None
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):
                parts.append((False, child.data))
            elif isinstance(child, nodes.Name) and child.ctx == "load":
                parts.append((True, child.name))
            else:
                return None

    def render(values: dict[str, Any]) -> str:
        return "".join(("" if (v := values[text]) is None else str(v)) if is_field else text
                       for is_field, text in parts)

    return render


_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "lt": lambda a, b: a < b,
    "lteq": lambda a, b: a <= b, "gt": lambda a, b: a > b, "gteq": lambda a, b: a >= b,
    "in": lambda a, b: a in b, "notin": lambda a, b: a not in b,
}


def plain_expression(ast: Any) -> Callable[[dict[str, Any]], Any] | None:
    """Common expressions (`availability != 'out_of_stock'`, `price.amount < 10 and not
    brand`, `brand in ['A', 'B']`) as plain closures: the same result as Jinja without its
    per-call set-up. Anything else (filters, calls, `_private` attributes) returns None and
    runs in Jinja's sandbox."""
    from jinja2 import nodes

    def build(node: Any) -> Callable[[dict[str, Any]], Any] | None:
        if isinstance(node, nodes.Const):
            value = node.value
            return lambda v: value
        if isinstance(node, nodes.Name) and node.ctx == "load" and node.name not in ENV.globals:
            name = node.name
            return lambda v: v[name]
        if isinstance(node, (nodes.List, nodes.Tuple)):
            items = [build(n) for n in node.items]
            if any(i is None for i in items) or not all(isinstance(n, nodes.Const)
                                                        for n in node.items):
                return None
            constant = [n.value for n in node.items]
            return lambda v: constant
        if isinstance(node, nodes.Getattr) and not node.attr.startswith("_"):
            inner, attr = build(node.node), node.attr

            def get(v: dict[str, Any]) -> Any:
                obj = inner(v)  # type: ignore[misc]
                if isinstance(obj, dict):
                    if attr not in obj:
                        raise StepError(f"{attr!r} is undefined")
                    return obj[attr]
                if obj is None or not hasattr(obj, attr):
                    raise StepError(f"{type(obj).__name__} has no attribute {attr!r}")
                value = getattr(obj, attr)
                if not ENV.is_safe_attribute(obj, attr, value):
                    raise StepError(f"access to attribute {attr!r} is unsafe")
                return value

            return get if inner is not None else None
        if isinstance(node, nodes.Not):
            inner = build(node.node)
            return (lambda v: not inner(v)) if inner is not None else None  # type: ignore[misc]
        if isinstance(node, (nodes.And, nodes.Or)):
            left, right = build(node.left), build(node.right)
            if left is None or right is None:
                return None
            if isinstance(node, nodes.And):
                return lambda v: left(v) and right(v)  # type: ignore[misc]
            return lambda v: left(v) or right(v)  # type: ignore[misc]
        if isinstance(node, nodes.Compare) and len(node.ops) == 1 and node.ops[0].op in _COMPARE:
            left, right = build(node.expr), build(node.ops[0].expr)
            compare = _COMPARE[node.ops[0].op]
            if left is None or right is None:
                return None
            return lambda v: compare(left(v), right(v))  # type: ignore[misc]
        return None

    body = ast.body
    if len(body) != 1 or not isinstance(body[0], nodes.Output) or len(body[0].nodes) != 1:
        return None
    return build(body[0].nodes[0])


# -- writing fields -----------------------------------------------------------------------

def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == []


_SLOTS = tuple(f for f in Product.__slots__ if not f.startswith("__"))  # type: ignore[attr-defined]


def _copier() -> Callable[[Product], Product]:
    # Unrolled `new.x = old.x` for every slot: several times faster than
    # dataclasses.replace, which re-runs __init__ with keyword arguments.
    lines = ["def copy_product(old):", "    new = new_product(Product)"]
    lines += [f"    new.{name} = old.{name}" for name in _SLOTS]
    lines.append("    return new")
    namespace: dict[str, Any] = {"new_product": object.__new__, "Product": Product}
    exec("\n".join(lines), namespace)
    return namespace["copy_product"]  # type: ignore[no-any-return]


copy_product = _copier()


def updated(state: RunState, product: Product, changes: dict[str, Any]) -> Product:
    """The product itself when no value differs, else the changed product.

    The product a channel receives is shared, so the first change copies it; later steps of
    the same run change that private copy in place (one copy per product, not one per rule).
    While tracing (`explain`) every change copies, so each step's before and after survive.
    """
    canonical: dict[str, Any] = {}
    extra: dict[str, str] | None = None
    for name, value in changes.items():
        if name in _CANONICAL:
            if getattr(product, name) != value:
                canonical[name] = value
        elif product.extra.get(name) != value:
            extra = dict(product.extra) if extra is None else extra
            if value is None or value == "":
                extra.pop(name, None)
            else:
                extra[name] = str(value)
    if extra is not None:
        canonical["extra"] = extra
    if not canonical:
        return product
    state.changed = True
    if state.trace is not None:
        return replace(product, **canonical)
    if product is not state.owned:
        product = copy_product(product)
        state.owned = product
    for name, value in canonical.items():
        setattr(product, name, value)
    return product


def round_money(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(Decimal(1).scaleb(-currency_decimals(currency)), ROUND_HALF_UP)


def set_one(state: RunState, product: Product, name: str, value: Any) -> Product:
    """`updated` for the usual case of one field (no dict to build on the hot path)."""
    if name in _CANONICAL:
        if getattr(product, name) == value:
            return product
        if state.trace is None:
            if product is not state.owned:
                product = copy_product(product)
                state.owned = product
            setattr(product, name, value)
            state.changed = True
            return product
    return updated(state, product, {name: value})


def coerce(name: str, value: Any, product: Product, currency: str | None) -> Any:
    """A rule's result (usually text) as the typed value field `name` holds."""
    if isinstance(value, str):
        if name in _PLAIN_TEXT:
            return " ".join(value.split()) or None
        value = value.strip()
    if is_empty(value):
        return None
    if name not in _CANONICAL:
        return str(value)
    if name in MONEY_FIELDS:
        if isinstance(value, Money):
            return value
        number, code = split_money(str(value))
        code = code or (product.price.currency if product.price else currency)
        if not code:
            raise StepError(f"{name} {value!r} has no currency")
        try:
            amount = parse_decimal(number)
        except NumberFormatError as exc:
            raise StepError(f"{value!r} is not a price") from exc
        return Money(round_money(amount, code), code)
    if name in ENUMS:
        key = re.sub(r"[\s\-]+", "_", str(value).casefold())
        if key not in ENUMS[name]:
            raise StepError(f"{value!r} is not a {name} ({', '.join(ENUMS[name])})")
        return key
    if name == "quantity":
        try:
            return int(parse_decimal(str(value)))
        except NumberFormatError as exc:
            raise StepError(f"{value!r} is not a quantity") from exc
    if name == "identifier_exists":
        return str(value).casefold() in ("yes", "true", "1", "y")
    if name == "additional_image_link":
        return value if isinstance(value, list) else [
            v for v in _LIST_SPLIT.split(str(value)) if v]
    text = str(value)
    return text if name == "description" else collapse_whitespace(text)


def text_of(product: Product, name: str) -> str | None:
    value = field_value(product, name)
    return None if value is None else str(value)


def number_of(value: Any, locale: str | None) -> Decimal:
    if isinstance(value, Money):
        return value.amount
    if isinstance(value, (int, Decimal)):
        return Decimal(value)
    text = str(value)
    if locale is None or ("." not in text and "," not in text):
        with contextlib.suppress(ArithmeticError):
            return Decimal(text)
    try:
        return parse_decimal(split_money(str(value))[0], locale)
    except NumberFormatError as exc:
        raise StepError(f"{value!r} is not a number") from exc


# -- the runner's view of a step ----------------------------------------------------------

@dataclass
class TraceEntry:
    depth: int
    label: str
    where: str
    outcome: str  # changed, unchanged, dropped, skipped, failed
    changes: list[tuple[str, Any, Any]] = field(default_factory=list)
    note: str | None = None


class RunState:
    """What applying the rules to one product collects besides the product."""

    __slots__ = ("changed", "channel", "depth", "note", "owned", "problems", "trace")

    def __init__(self, channel: str, trace: list[TraceEntry] | None = None) -> None:
        self.channel = channel
        self.problems: list[tuple[Step, str]] = []
        self.trace = trace
        self.note: str | None = None
        self.depth = 0
        self.changed = False  # set by `updated` when the current step changed something
        self.owned: Product | None = None  # this run's private copy, safe to change in place


class Step:
    """One compiled rule; counts what it did over the run."""

    label: str = ""
    where: str = ""
    traces_itself = False

    def __init__(self) -> None:
        self.changed = 0
        self.dropped = 0

    def apply(self, product: Product, state: RunState) -> Product | None:
        raise NotImplementedError

    def children(self) -> list[Step]:
        return []

    def observe(self, product: Product) -> None:
        """Steps that need the whole master (variants) see every product first."""


# -- filter, set, conditions --------------------------------------------------------------

class KeepWhen(Step):
    def __init__(self, expression: Expression, keep: bool) -> None:
        super().__init__()
        self.expression = expression
        self.keep = keep

    def apply(self, product: Product, state: RunState) -> Product | None:
        matched = bool(self.expression(product))
        if matched == self.keep:
            state.note = f"kept: `{self.expression.source}` is {matched}".replace(
                "True", "true").replace("False", "false")
            return product
        state.note = f"`{self.expression.source}` is {str(matched).lower()}"
        return None


class KeepIds(Step):
    def __init__(self, ids: frozenset[str], keep: bool, file: str) -> None:
        super().__init__()
        self.ids = ids
        self.keep = keep
        self.file = file

    def apply(self, product: Product, state: RunState) -> Product | None:
        listed = product.id in self.ids
        where = f"listed in {self.file}" if listed else f"not in {self.file}"
        if listed == self.keep:
            state.note = f"kept: {where}"
            return product
        state.note = where
        return None


class SetFields(Step):
    def __init__(self, templates: dict[str, Template], currency: str | None) -> None:
        super().__init__()
        self.templates = templates
        self.currency = currency

    def apply(self, product: Product, state: RunState) -> Product | None:
        changes = {name: coerce(name, template(product), product, self.currency)
                   for name, template in self.templates.items()}
        return updated(state, product, changes)


class Conditional(Step):
    traces_itself = True

    def __init__(self, condition: Expression, then: list[Step], otherwise: list[Step]) -> None:
        super().__init__()
        self.condition = condition
        self.then = then
        self.otherwise = otherwise

    def children(self) -> list[Step]:
        return [*self.then, *self.otherwise]

    def observe(self, product: Product) -> None:
        for step in self.children():
            step.observe(product)

    def apply(self, product: Product, state: RunState) -> Product | None:
        matched = bool(self.condition(product))
        branch = self.then if matched else self.otherwise
        if state.trace is not None:
            state.trace.append(TraceEntry(
                state.depth, self.label, self.where, "condition",
                note=f"`{self.condition.source}` is {str(matched).lower()}: "
                     + ("then" if matched else "else" if self.otherwise else "nothing to do")))
        state.depth += 1
        try:
            return run_steps(branch, product, state)
        finally:
            state.depth -= 1


# -- lookups and categories ---------------------------------------------------------------

class Lookup(Step):
    def __init__(self, source: str, into: str, table: dict[str, str], default: str | None,
                 has_default: bool, ignore_case: bool, currency: str | None) -> None:
        super().__init__()
        self.source = source
        self.into = into
        self.table = table
        self.default = default
        self.has_default = has_default
        self.ignore_case = ignore_case
        self.currency = currency

    def find(self, product: Product) -> str | None:
        key = text_of(product, self.source)
        if key is None:
            return None
        key = key.strip()
        return self.table.get(key.casefold() if self.ignore_case else key)

    def apply(self, product: Product, state: RunState) -> Product | None:
        found = self.find(product)
        if found is None:
            if not self.has_default:
                state.note = f"{self.source} {text_of(product, self.source)!r} is not in the table"
                return product
            found = self.default
            state.note = f"{self.source} {text_of(product, self.source)!r} is not in the " \
                         "table: default used"
        value = coerce(self.into, found, product, self.currency)
        return set_one(state, product, self.into, value)


class MapCategory(Step):
    def __init__(self, source: str, table: dict[str, str] | None, default: str | None,
                 ignore_case: bool, taxonomy: Taxonomy) -> None:
        super().__init__()
        self.source = source
        self.table = table
        self.default = default
        self.ignore_case = ignore_case
        self.taxonomy = taxonomy

    def apply(self, product: Product, state: RunState) -> Product | None:
        value = text_of(product, self.source)
        mapped: str | None = value.strip() if value else None
        if mapped and self.table is not None:
            mapped = self.table.get(mapped.casefold() if self.ignore_case else mapped)
        category = self.taxonomy.id_for(mapped) if mapped else None
        if category is None:
            if mapped and self.table is None:
                state.problems.append((self, f"{self.source} {value!r} is not a Google product "
                                             f"category (taxonomy {self.taxonomy.version})"))
            if self.default is None:
                state.note = f"no Google category for {self.source} {value!r}"
                return product
            state.note = f"no Google category for {self.source} {value!r}: default used"
            category = self.default
        return set_one(state, product, "google_product_category", category)


# -- text ---------------------------------------------------------------------------------

class TextTransform(Step):
    def __init__(self, fields: list[str], transform: Callable[[str], str]) -> None:
        super().__init__()
        self.fields = fields
        self.transform = transform

    def apply(self, product: Product, state: RunState) -> Product | None:
        changes = {}
        for name in self.fields:
            value = field_value(product, name)
            if isinstance(value, str) and value:
                changes[name] = self.transform(value) or None
        return updated(state, product, changes)


def title_case(text: str) -> str:
    # str.title() would capitalise after apostrophes ("Men'S"); only word starts change here.
    return re.sub(r"(^|[\s\-/(\"])(\w)", lambda m: m.group(1) + m.group(2).upper(), text.lower())


def plain_text(text: str) -> str:
    # Most values are plain already (parse.py cleans the master's text): skip the regexes.
    if ("&" not in text and not needs_cleaning(text)
            and not text[:1].isspace() and not text[-1:].isspace()):
        return text
    return strip_html(text)


class Truncate(Step):
    def __init__(self, field_name: str, length: int, ellipsis: str) -> None:
        super().__init__()
        self.field = field_name
        self.length = length
        self.ellipsis = ellipsis

    def apply(self, product: Product, state: RunState) -> Product | None:
        value = field_value(product, self.field)
        if not isinstance(value, str) or len(value) <= self.length:
            state.note = f"{self.field} is within {self.length} characters"
            return product
        cut = truncate_words(value, self.length, self.ellipsis)
        return set_one(state, product, self.field, cut)


class Affix(Step):
    def __init__(self, field_name: str, template: Template, suffix: bool) -> None:
        super().__init__()
        self.field = field_name
        self.template = template
        self.suffix = suffix

    def apply(self, product: Product, state: RunState) -> Product | None:
        value = text_of(product, self.field)
        if not value:
            state.note = f"{self.field} is empty"
            return product
        text = self.template(product)
        if (value.endswith(text) if self.suffix else value.startswith(text)):
            state.note = f"{self.field} already has it"
            return product
        return set_one(state, product, self.field, value + text if self.suffix else text + value)


# -- prices -------------------------------------------------------------------------------

class PriceMath(Step):
    """Every money field times a factor, rounded to its currency's decimals."""

    def __init__(self, fields: list[str], factor: Decimal, into: str | None = None) -> None:
        super().__init__()
        self.fields = fields
        self.factor = factor
        self.into = into

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


class RoundPrice(Step):
    def __init__(self, fields: list[str], ending: Decimal, direction: str) -> None:
        super().__init__()
        self.fields = fields
        self.ending = ending
        self.direction = direction

    def apply(self, product: Product, state: RunState) -> Product | None:
        changes = {}
        for name in self.fields:
            money = field_value(product, name)
            if isinstance(money, Money) and currency_decimals(money.currency) > 0:
                changes[name] = Money(price_ending(money.amount, self.ending, self.direction),
                                      money.currency)
        return updated(state, product, changes)


class ConvertCurrency(Step):
    def __init__(self, fields: list[str], to: str, rates: dict[str, Decimal]) -> None:
        super().__init__()
        self.fields = fields
        self.to = to
        self.rates = rates

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


class Campaign(Step):
    def __init__(self, key: str, entries: dict[str, list[CampaignEntry]], file: str,
                 now: datetime) -> None:
        super().__init__()
        self.key = key
        self.entries = entries
        self.file = file
        self.now = now

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


# -- custom labels ------------------------------------------------------------------------

def band_label(value: Decimal, bands: list[tuple[Decimal | None, str]]) -> str | None:
    for below, label in bands:
        if below is None or value < below:
            return label
    return None


class PriceBuckets(Step):
    def __init__(self, into: str, source: str, bands: list[tuple[Decimal | None, str]],
                 locale: str | None) -> None:
        super().__init__()
        self.into = into
        self.source = source
        self.bands = bands
        self.locale = locale

    def apply(self, product: Product, state: RunState) -> Product | None:
        value = field_value(product, self.source)
        if is_empty(value):
            state.note = f"{self.source} is empty"
            return product
        label = band_label(number_of(value, self.locale), self.bands)
        return set_one(state, product, self.into, label)


class MarginBands(Step):
    def __init__(self, into: str, cost: str, price_field: str,
                 bands: list[tuple[Decimal | None, str]], locale: str | None) -> None:
        super().__init__()
        self.into = into
        self.cost = cost
        self.price_field = price_field
        self.bands = bands
        self.locale = locale

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


class NewArrivals(Step):
    def __init__(self, into: str, date: str, days: int, label: str, otherwise: str | None,
                 now: datetime, locale: str | None, date_format: str | None, tz: tzinfo) -> None:
        super().__init__()
        self.into = into
        self.date = date
        self.since = now - timedelta(days=days)
        self.hit = label
        self.otherwise = otherwise
        self.parse = lambda text: parse_datetime(text, locale=locale, date_format=date_format,
                                                 tz=tz)

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


class BestSellers(Step):
    def __init__(self, into: str, match: str, ids: frozenset[str], label: str,
                 otherwise: str | None, file: str) -> None:
        super().__init__()
        self.into = into
        self.match = match
        self.ids = ids
        self.hit = label
        self.otherwise = otherwise
        self.file = file

    def apply(self, product: Product, state: RunState) -> Product | None:
        listed = (text_of(product, self.match) or "") in self.ids
        label = self.hit if listed else self.otherwise
        if label is None:
            state.note = f"{self.match} is not in {self.file}"
            return product
        return set_one(state, product, self.into, label)


# -- variants -----------------------------------------------------------------------------

class Variants(Step):
    """Needs the whole master: `observe` sees every product before the first is applied."""

    def __init__(self, parent: Expression | None, children_column: str | None,
                 children_pattern: re.Pattern[str], carry_down: list[str],
                 drop_parents: bool) -> None:
        super().__init__()
        self.parent = parent
        self.children_column = children_column
        self.children_pattern = children_pattern
        self.carry_down = carry_down
        self.drop_parents = drop_parents
        self.group_ids: set[str] = set()
        self.candidates: dict[str, dict[str, Any]] = {}
        self.child_parent: dict[str, str] = {}
        self.parent_ids: set[str] = set()
        self._settled = False

    def _is_parent(self, product: Product) -> bool:
        if self.parent is not None:
            return bool(self.parent(product))
        return product.id in self.parent_ids

    def observe(self, product: Product) -> None:
        self._settled = False
        if product.item_group_id:
            self.group_ids.add(product.item_group_id)
        explicit = self.parent is not None and bool(self.parent(product))
        if explicit or (self.parent is None and not product.item_group_id):
            self.candidates[product.id] = {
                n: v for n in self.carry_down if not is_empty(v := field_value(product, n))}
        if explicit:
            self.parent_ids.add(product.id)
        if explicit and self.children_column:
            for match in self.children_pattern.finditer(text_of(product, self.children_column)
                                                        or ""):
                child = (match.group(1) if match.groups() else match.group(0)).strip()
                if child:
                    self.child_parent[child] = product.id

    def _settle(self) -> None:
        if self.parent is None:
            self.parent_ids = {i for i in self.candidates if i in self.group_ids}
        self.candidates = {i: v for i, v in self.candidates.items() if i in self.parent_ids}
        self.group_ids = set()
        self._settled = True

    def apply(self, product: Product, state: RunState) -> Product | None:
        if not self._settled:
            self._settle()
        if self._is_parent(product):
            if self.drop_parents:
                state.note = "a parent row of a variant group"
                return None
            state.note = "a parent row (kept)"
            return product
        group = product.item_group_id or self.child_parent.get(product.id)
        if not group:
            state.note = "not part of a variant group"
            return product
        changes: dict[str, Any] = {"item_group_id": group}
        inherited = self.candidates.get(group, {})
        for name in self.carry_down:
            if is_empty(field_value(product, name)) and name in inherited:
                changes[name] = inherited[name]
        return updated(state, product, changes)


# -- the runner ---------------------------------------------------------------------------

RUNTIME_ERRORS = (StepError, ArithmeticError, TypeError, ValueError, LookupError,
                  AttributeError)


def run_steps(steps: list[Step], product: Product, state: RunState) -> Product | None:
    any_changed = False
    for step in steps:
        state.note = None
        state.changed = False
        try:
            result = step.apply(product, state)
        except (*RUNTIME_ERRORS, TemplateError) as exc:
            message = str(exc) or type(exc).__name__
            state.problems.append((step, message))
            if state.trace is not None:
                state.trace.append(TraceEntry(state.depth, step.label, step.where, "failed",
                                              note=message))
            continue
        if result is None:
            step.dropped += 1
            if state.trace is not None:
                state.trace.append(TraceEntry(state.depth, step.label, step.where, "dropped",
                                              note=state.note))
            return None
        if state.changed or result is not product:
            step.changed += 1
            any_changed = True
        if state.trace is not None and not step.traces_itself:
            changes = diff(product, result)
            state.trace.append(TraceEntry(
                state.depth, step.label, step.where, "changed" if changes else "unchanged",
                changes, None if changes else (state.note or "nothing to change")))
        product = result
    state.changed = any_changed
    return product


def diff(before: Product, after: Product) -> list[tuple[str, Any, Any]]:
    if before is after:
        return []
    changes = [(n, getattr(before, n), getattr(after, n)) for n in CANONICAL_FIELDS
               if getattr(before, n) != getattr(after, n)]
    for name in sorted(set(before.extra) | set(after.extra)):
        if before.extra.get(name) != after.extra.get(name):
            changes.append((name, before.extra.get(name), after.extra.get(name)))
    return changes

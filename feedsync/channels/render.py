"""Product -> one channel's item: rename, enum-map, format, truncate, check its limits.

The spec is compiled once into a list of small field renderers; rendering a product is a
loop over them. The result is an `Item`: an ordered mapping from the channel's field names
to a string, a list of strings (repeated values) or a list of groups (nested values such
as shipping), which every writer knows how to serialise.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from operator import attrgetter
from typing import Any

from jinja2 import Template, TemplateError, meta

from feedsync.channels.spec import ChannelSpec, FieldSpec, RuleSpec
from feedsync.checks import codes
from feedsync.checks.issue import Issue, Severity
from feedsync.checks.text import truncate_words
from feedsync.compiled_templates import python_renderer, with_fallback
from feedsync.errors import ConfigError
from feedsync.products.dates import format_iso_minutes
from feedsync.products.dates import now as current_time
from feedsync.products.numbers import currency_decimals, currency_quantum, format_amount
from feedsync.products.product import (
    CANONICAL_FIELDS,
    DateWindow,
    Measure,
    Money,
    Product,
    Shipping,
    to_plain,
)
from feedsync.rules.taxonomy import google_taxonomy
from feedsync.templating import fast_renderer, template_environment

Group = dict[str, str]
# Typed scalars (Decimal, int, bool) come from the number/integer/boolean formats, for
# JSON feeds; text writers turn them into text with `scalar_text`.
Value = str | Decimal | int | bool | list[str] | list[Group]
Item = dict[str, Value]
# An item as API destinations take it: rendered values, with Money, datetime, Measure,
# DateWindow and lists of Shipping rules where the spec formats such a value as text.
TypedItem = dict[str, Any]
# Field formats whose text is made from a typed value (see ChannelRenderer.typed_item).
TYPED_FORMATS = frozenset({"text", "money", "datetime", "interval", "measure", "shipping"})

# Template names that are not product fields: the run's channel settings, market and feed.
CONTEXT_NAMES = frozenset({"settings", "market", "feed"})


def _money(value: Money) -> str:
    return f"{format_amount(value.amount, value.currency)} {value.currency}"


def _text(value: Any) -> str:
    if type(value) is str:  # the common case, first: this runs for most fields of most items
        return value
    if isinstance(value, Money):
        return _money(value)
    if isinstance(value, datetime):
        return format_iso_minutes(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Measure):
        return f"{value.value} {value.unit}"
    if isinstance(value, DateWindow):
        return f"{format_iso_minutes(value.start)}/{format_iso_minutes(value.end)}"
    return str(value)


_shipping_groups: dict[int, tuple[Shipping, Group]] = {}


def _shipping_group(rule: Shipping) -> Group:
    # Parsing memoises repeated shipping rules, so the same objects recur: format each once.
    cached = _shipping_groups.get(id(rule))
    if cached is not None and cached[0] is rule:
        return dict(cached[1])
    group = _format_shipping(rule)
    if len(_shipping_groups) < 4096:
        _shipping_groups[id(rule)] = (rule, group)
    return dict(group)


def _format_shipping(rule: Shipping) -> Group:
    group: Group = {"country": rule.country}
    if rule.region:
        group["region"] = rule.region
    if rule.postal_code:
        group["postal_code"] = rule.postal_code
    if rule.service:
        group["service"] = rule.service
    group["price"] = _money(rule.price)
    for name in ("min_handling_time", "max_handling_time", "min_transit_time",
                 "max_transit_time"):
        value = getattr(rule, name)
        if value is not None:
            group[name] = str(value)
    return group


def _money_text(value: Any) -> str:
    """The `money` format: `_money` for Money, else `_text` (one call for a price, where
    a lambda around `_money` made two)."""
    if value.__class__ is Money:
        return f"{format_amount(value.amount, value.currency)} {value.currency}"
    return _money(value) if isinstance(value, Money) else _text(value)


def _measure_text(value: Any) -> str:
    """The `measure` format, `_text`: a Measure without `_text`'s isinstance chain."""
    if value.__class__ is Measure:
        return f"{value.value} {value.unit}"
    return _text(value)


def text_value(value: Any) -> str:
    """A typed value (Money, datetime, Measure, DateWindow...) as the feeds write it."""
    return _text(value)


def scalar_text(value: Any) -> str:
    """Typed scalars of JSON-minded formats, written into a text feed."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _number(value: Any) -> Value:
    """The `number` format: a price's amount at its currency's decimals, a measure's
    value, else the value as a Decimal (or its text when it is not a number)."""
    if value.__class__ is Money:  # the usual value, first: JSON feeds' prices
        return value.amount.quantize(currency_quantum(value.currency))
    return _number_general(value)


def _number_general(value: Any) -> Value:
    """The definition of the `number` format (what `_number` gives)."""
    if isinstance(value, Money):
        return value.amount.quantize(Decimal(1).scaleb(-currency_decimals(value.currency)))
    if isinstance(value, Measure):
        return value.value
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return Decimal(value)
    try:
        return Decimal(str(value).strip())
    except ArithmeticError:
        return _text(value)


def _integer(value: Any) -> Value:
    """The `integer` format: `_integer_general`, an int (a stock quantity) as it is."""
    if value.__class__ is int:  # int(Decimal(n)) is n
        return value
    return _integer_general(value)


def _integer_general(value: Any) -> Value:
    """The definition of the `integer` format."""
    number = _number_general(value)
    return int(number) if isinstance(number, Decimal) else number


def _boolean(value: Any) -> Value:
    if isinstance(value, bool):
        return value
    text = _text(value).strip().lower()
    if text in ("true", "yes", "1", "y"):
        return True
    if text in ("false", "no", "0", "n"):
        return False
    return text


FORMATTERS: dict[str, Callable[[Any], Value]] = {
    "text": _text,
    "money": _money_text,
    "amount": lambda v: format_amount(v.amount, v.currency) if isinstance(v, Money) else _text(v),
    "datetime": lambda v: format_iso_minutes(v) if isinstance(v, datetime) else _text(v),
    "date": lambda v: v.date().isoformat() if isinstance(v, datetime) else _text(v),
    "interval": _text,
    "yes_no": lambda v: ("yes" if v else "no") if isinstance(v, bool) else _text(v),
    "true_false": lambda v: ("true" if v else "false") if isinstance(v, bool) else _text(v),
    "measure": _measure_text,
    "shipping": lambda v: [_shipping_group(r) for r in v],
    "list": lambda v: [_text(x) for x in v] if isinstance(v, list) else [_text(v)],
    "number": _number,
    "integer": _integer,
    "boolean": _boolean,
    "currency": lambda v: v.currency if isinstance(v, Money) else _text(v),
}

_EMPTYABLE = (str, list, tuple)
_template_env = template_environment()
_DROP: Any = object()  # a field check's answer: leave this attribute out, keep the product


class _FieldRenderer:
    __slots__ = ("checked", "fast", "format", "get", "limited", "max_length", "name",
                 "passed", "plain_text", "recommended", "required", "spec", "values")

    def __init__(self, spec: FieldSpec, channel: str,
                 context: dict[str, Any] | None = None) -> None:
        self.spec = spec
        self.name = spec.name
        self.format = FORMATTERS[spec.format]
        self.plain_text = spec.format == "text"
        self.max_length = spec.max_length
        self.values = spec.values
        self.required = spec.required
        self.recommended = spec.recommended
        # Plain text with no value map: a string within the limit goes straight through.
        self.fast = self.plain_text and spec.values is None
        self.limited = bool(spec.max_length or spec.max_items)
        # Checks beyond length and value maps: such a field always takes the general path.
        self.checked = bool(spec.https_only or spec.taxonomy or spec.parts or spec.split
                            or spec.during or spec.max_days_ahead
                            or spec.format == "shipping")
        # Plain texts whose checks depend on the value alone: the values that passed.
        value_only = (self.checked and self.plain_text and spec.values is None
                      and not (spec.split or spec.during or spec.max_days_ahead))
        self.passed: set[str] | None = set() if value_only else None
        self.get = self._getter(spec, channel, context or {})

    @staticmethod
    def _getter(spec: FieldSpec, channel: str,
                run_context: dict[str, Any]) -> Callable[[Product], Any]:
        if spec.value is not None:
            constant = spec.value
            return lambda product: constant
        if spec.template is not None:
            try:
                template = _template_env.from_string(spec.template)
                names = meta.find_undeclared_variables(_template_env.parse(spec.template))
            except TemplateError as exc:
                raise ConfigError(f"channel {channel}: field {spec.name}: bad template: "
                                  f"{exc}") from exc

            fixed = {n: run_context.get(n, {}) for n in names if n in CONTEXT_NAMES}
            product_names = [n for n in names if n not in CONTEXT_NAMES]
            if not product_names:  # settings/market/feed only: the same for every product
                try:
                    constant_text = template.render(fixed).strip() or None
                except TemplateError as exc:
                    raise ConfigError(f"channel {channel}: field {spec.name}: {exc}") from exc
                return lambda product: constant_text

            return MemoisedFieldTemplate(
                field_renderer(template, spec.template, product_names, fixed),
                product_names, fixed)
        if spec.sources is not None:
            getters = [(n in CANONICAL_FIELDS, n) for n in spec.sources]

            def gather(product: Product) -> list[Any]:
                values: list[Any] = []
                for canonical, name in getters:
                    value = getattr(product, name) if canonical else product.extra.get(name)
                    if isinstance(value, list):
                        values += value
                    elif value is not None and value != "":
                        values.append(value)
                return values

            return gather
        return value_getter(spec.source_field)


def field_renderer(template: Template, source: str, names: list[str],
                   fixed: dict[str, Any]) -> Callable[[dict[str, Any]], str]:
    """A field template's text for {name: value} (plus `fixed`): compiled to Python where
    the template is simple enough (feedsync.compiled_templates), else Jinja2's render."""
    jinja = fast_renderer(template)
    compiled = python_renderer(_template_env, source, names, fixed)
    return jinja if compiled is None else with_fallback(compiled, jinja)


def value_getter(name: str) -> Callable[[Product], Any]:
    """`Product.get(name)` resolved once: the canonical field's attribute, or else the
    master's extra column of that name."""
    if name in CANONICAL_FIELDS:
        return attrgetter(name)
    return lambda product: product.extra.get(name)


# Values a field template's memo can key on: equal keys mean equal inputs (a field's
# values are always of one type, so 1 and True never meet in one position).
_KEY_TYPES = frozenset({str, int, bool, type(None)})


class MemoisedFieldTemplate:
    """A field template run per product, remembering its text for inputs seen before.

    A field template is a pure function of the product values it names (and of the
    settings, market and feed, fixed for the run), and many repeat across a catalog (a
    category id or a product type with a fallback setting, an availability): rendering
    costs ~10 us, a lookup well under one. Values that are not plain text, numbers or None
    (lists, shipping rules) are not memoised; a memo that seldom hits (a GTIN, unique per
    product) is switched off after MEMO_TRIAL lookups.
    """

    MEMO_SIZE = 4096
    MEMO_TRIAL = 2048

    __slots__ = ("call", "fixed", "getters", "hits", "lookups", "memo", "names",
                 "render_text")

    def __init__(self, render_text: Callable[[dict[str, Any]], str], names: list[str],
                 fixed: dict[str, Any]) -> None:
        self.render_text = render_text
        self.names = names
        # Product.get, resolved once per name instead of per product
        self.getters = [value_getter(n) for n in names]
        self.fixed = fixed
        self.memo: dict[Any, str | None] | None = {}
        self.hits = self.lookups = 0
        # What the renderer calls: `general` as one function generated for these names
        self.call: Callable[[Product], str | None] = self._generated()

    def __call__(self, product: Product) -> str | None:
        """The template's text for `product` (None when it renders empty)."""
        return self.call(product)

    def general(self, product: Product) -> str | None:
        """The definition of the memoised render (`call` is generated from it)."""
        values = []
        plain = True  # every value one the memo can key on
        for get in self.getters:
            value = get(product)
            if value.__class__ not in _KEY_TYPES:  # to_plain keeps those as they are
                value = to_plain(value)
                plain = plain and value.__class__ in _KEY_TYPES
            values.append(value)
        memo = self.memo
        key: Any = None
        if memo is not None and plain:
            key = values[0] if len(values) == 1 else tuple(values)
            self.lookups += 1
            if key in memo:
                self.hits += 1
                return memo[key]
            if self.lookups >= self.MEMO_TRIAL and self.hits * 4 < self.lookups:
                self.memo = memo = None  # inputs hardly repeat: rendering is cheaper
        context = dict(zip(self.names, values))
        context.update(self.fixed)
        text = self.render_text(context).strip() or None
        if key is not None and memo is not None and len(memo) < self.MEMO_SIZE:
            memo[key] = text
        return text

    def _generated(self) -> Callable[[Product], str | None]:
        """`general` as straight-line code for this template's names: each value read
        as render_fields reads it (an attribute, or the extra column), the key built
        without a loop, one dict look-up; ~16 templates run per product over 13 feeds.
        (One name keys by its value: a 1-tuple and its value are equal keys alike.)"""
        namespace: dict[str, Any] = {
            "state": self, "KEY_TYPES": _KEY_TYPES, "to_plain": to_plain,
            "render_text": self.render_text, "fixed": self.fixed, "MISS": _DROP,
            "TRIAL": self.MEMO_TRIAL, "SIZE": self.MEMO_SIZE}
        lines = ["def memoised(product):", "    plain = True"]
        variables = []
        for number, name in enumerate(self.names):
            var = f"v{number}"
            variables.append(var)
            read = (f"product.{name}" if name in CANONICAL_FIELDS
                    else f"product.extra.get({name!r})")
            lines += [f"    {var} = {read}",
                      f"    if {var}.__class__ not in KEY_TYPES:",
                      f"        {var} = to_plain({var})",
                      f"        if {var}.__class__ not in KEY_TYPES:",
                      "            plain = False"]
        key = variables[0] if len(variables) == 1 else f"({''.join(v + ', ' for v in variables)})"
        context = "".join(f"{name!r}: {var}, " for name, var in
                          zip(self.names, variables, strict=True))
        lines += ["    memo = state.memo",
                  "    key = None",
                  "    if memo is not None and plain:",
                  f"        key = {key}",
                  "        state.lookups += 1",
                  "        text = memo.get(key, MISS)",
                  "        if text is not MISS:",
                  "            state.hits += 1",
                  "            return text",
                  "        if state.lookups >= TRIAL and state.hits * 4 < state.lookups:",
                  "            state.memo = memo = None",
                  f"    text = render_text({{{context}**fixed}}).strip() or None",
                  "    if key is not None and memo is not None and len(memo) < SIZE:",
                  "        memo[key] = text",
                  "    return text"]
        exec("\n".join(lines), namespace)
        return namespace["memoised"]  # type: ignore[no-any-return]


def _rule_settles_quietly(rule: RuleSpec) -> Callable[[Product, Item], bool]:
    """A quick test that `rule` gives no issue for a product: True only where
    `ChannelRenderer._apply_rule` would return None (its `when` does not match, an `unless`
    does, or what it requires is there); False sends the product to `_apply_rule`, the one
    definition of the rule. Every product meets every rule of its channel: the full
    definition cost ~1 us a rule, mostly to find that it does not apply. A `when_matches`
    pattern the product's text does not match settles the rule too (a report or an
    exclusion applies only where it matches: eBay's 14-digit GTIN, Mercado Libre's zero
    price and negative stock)."""
    def options(wanted: str | list[str]) -> frozenset[str]:
        return frozenset([wanted] if isinstance(wanted, str) else wanted)

    # Product.get resolved once per name (value_getter), not a method call per product
    when = [(value_getter(name), options(wanted)) for name, wanted in rule.when.items()]
    unless = [(value_getter(name), options(unwanted))
              for name, unwanted in rule.unless.items()]
    # `re.search(pattern, text)`, what _apply_rule runs, is the compiled pattern's search
    matches = [(value_getter(name), re.compile(pattern).search)
               for name, pattern in rule.when_matches.items()]
    # Only a plain requirement can be settled here; patterns, reports and exclusions
    # leave the decision to the full definition once the conditions allow the rule.
    decides = not (rule.when_matches or rule.report or rule.exclude)
    require, require_any = list(rule.require), list(rule.require_any)

    def settles(product: Product, item: Item) -> bool:
        for get, wanted in when:
            actual = get(product)
            if actual is None or (actual if actual.__class__ is str
                                  else _text(actual)) not in wanted:
                return True
        for get, unwanted in unless:
            actual = get(product)
            if actual is not None and (actual if actual.__class__ is str
                                       else _text(actual)) in unwanted:
                return True
        for get, search in matches:
            actual = get(product)
            if actual is None or search(actual if actual.__class__ is str
                                        else _text(actual)) is None:
                return True
        return decides and all(item.get(n) for n in require) and (
            not require_any or any(item.get(n) for n in require_any))

    return settles


def _compile_rule_tests(rules: list[RuleSpec]) -> Callable[[Product, Item], list[int]]:
    """Every rule's quick test (`_rule_settles_quietly`, the definition) in one function
    generated once per channel: the indexes of the rules it cannot settle, in order (most
    products: none). Per product this saves a call, a loop and a generator per rule: ~17K
    instructions a product for Google's three rules, most of them."""
    lines = ["def unsettled(product, item):", "    pending = []"]
    namespace: dict[str, Any] = {"text": _text}

    def text_of(name: str) -> str:
        return f"({name} if {name}.__class__ is str else text({name}))"

    def bind(kind: str, index: int, number: int, name: str, test: Any) -> tuple[str, str]:
        """Names, in the generated code, of a condition's value getter and what it tests
        the value with (a set of texts, a pattern's search)."""
        getter, tested = f"get_{kind}{index}_{number}", f"{kind}{index}_{number}"
        namespace[getter] = value_getter(name)
        namespace[tested] = test
        return getter, tested

    def texts(values: str | list[str]) -> frozenset[str]:
        return frozenset([values] if isinstance(values, str) else values)

    for index, rule in enumerate(rules):
        conditions = []
        for number, (name, wanted) in enumerate(rule.when.items()):
            get, allowed = bind("when", index, number, name, texts(wanted))
            conditions.append(f"(a := {get}(product)) is not None and "
                              f"{text_of('a')} in {allowed}")
        for number, (name, unwanted) in enumerate(rule.unless.items()):
            get, banned = bind("unless", index, number, name, texts(unwanted))
            conditions.append(f"((u := {get}(product)) is None or "
                              f"{text_of('u')} not in {banned})")
        for number, (name, pattern) in enumerate(rule.when_matches.items()):
            getter, search = bind("match", index, number, name, re.compile(pattern).search)
            conditions.append(f"(m := {getter}(product)) is not None and "
                              f"{search}({text_of('m')}) is not None")
        # Only a plain requirement can be settled here, as in _rule_settles_quietly.
        if not (rule.when_matches or rule.report or rule.exclude):
            required = [f"item.get({name!r})" for name in rule.require]
            if rule.require_any:
                required.append("(" + " or ".join(f"item.get({name!r})"
                                                  for name in rule.require_any) + ")")
            if required:
                conditions.append(f"not ({' and '.join(required)})")
            else:
                conditions.append("False")  # nothing required: it settles once it applies
        test = " and ".join(f"({c})" for c in conditions) or "True"
        lines.append(f"    if {test}:")
        lines.append(f"        pending.append({index})")
    lines.append("    return pending")
    exec("\n".join(lines), namespace)
    return namespace["unsettled"]  # type: ignore[no-any-return]


def _compile_fields(fields: list[_FieldRenderer],
                    general: Callable[[int, Any, Product, Item, list[Issue]], bool],
                    ) -> Callable[[Product, Item, list[Issue]], bool]:
    """One function rendering every field of a spec, generated once per channel.

    Most values need nothing: a string within its limit, an enum value in the spec's map,
    an optional field left empty. The generated code handles those inline, straight-line,
    and hands anything else to `general` (ChannelRenderer._render_field), which holds the
    one definition of the rules; tests check that both paths give the same items and
    issues. Per product this saves a loop over some 30 field objects per channel.
    """
    lines = ["def render_fields(product, item, issues):", "    excluded = False"]
    namespace: dict[str, Any] = {"general": general, "EMPTYABLE": _EMPTYABLE,
                                 "datetime": datetime, "current_time": current_time}
    for index, field in enumerate(fields):
        spec = field.spec
        # a field template's generated function itself, not a call through its memo
        namespace[f"get_{index}"] = (field.get.call if isinstance(field.get,
                                     MemoisedFieldTemplate) else field.get)
        if spec.template is None and spec.value is None and spec.source_field in CANONICAL_FIELDS:
            lines.append(f"    value = product.{spec.source_field}")
        else:
            lines.append(f"    value = get_{index}(product)")
        missing_matters = field.required or field.recommended
        lines.append("    if value is None:")
        lines.append(f"        if general({index}, value, product, item, issues):"
                     if missing_matters else "        pass")
        if missing_matters:
            lines.append("            excluded = True")
        limit = f" and len({{v}}) <= {field.max_length}" if field.max_length else ""
        if field.checked and field.passed is not None:
            # Value-only checks (taxonomy, parts, https): a text that passed them once
            # passes again, so known-good values take the inline path.
            namespace[f"passed_{index}"] = field.passed
            lines.append(f"    elif value.__class__ is str and value in passed_{index}:")
            lines.append(f"        item[{field.name!r}] = value")
        elif (spec.format == "shipping" and field.values is None and not field.limited
              and not (spec.https_only or spec.taxonomy or spec.parts or spec.split
                       or spec.during or spec.max_days_ahead)):
            # Shipping rules all in the price's currency: the check finds nothing to
            # drop, and the general path would write the rules' format.
            namespace[f"format_{index}"] = field.format
            lines.append("    elif value.__class__ is list and value and (price := "
                         "product.price) is not None and all(rule.price.currency == "
                         "price.currency for rule in value):")
            lines.append(f"        item[{field.name!r}] = format_{index}(value)")
        elif (spec.format == "datetime" and spec.max_days_ahead and field.values is None
              and not field.limited
              and not (spec.https_only or spec.taxonomy or spec.parts or spec.split
                       or spec.during)):
            # A date at most N days ahead (Google's availability_date) within them: the
            # general path would check just that and write its format (about 7K
            # instructions less a dated product, measured on a 5,000-product build).
            namespace[f"format_{index}"] = field.format
            namespace[f"ahead_{index}"] = timedelta(days=spec.max_days_ahead)
            lines.append("    elif value.__class__ is datetime and value.tzinfo is not None "
                         f"and value <= current_time() + ahead_{index}:")
            lines.append(f"        item[{field.name!r}] = format_{index}(value)")
        elif field.checked:
            pass
        elif (not field.plain_text and field.values is None and not field.limited
              and spec.format != "list"):
            # A typed value (money, a measure, a date) with no limit or map: its format is
            # all the general path would do with it.
            namespace[f"format_{index}"] = field.format
            lines.append("    elif not (value.__class__ in EMPTYABLE and not value):")
            lines.append(f"        item[{field.name!r}] = format_{index}(value)")
        elif spec.format == "list" and field.values is None and not spec.max_length:
            # A list of texts within its count: the general path would copy it as is.
            count = f" <= {spec.max_items}" if spec.max_items else ""
            lines.append(f"    elif value.__class__ is list and 0 < len(value){count} and all("
                         "x.__class__ is str for x in value):")
            lines.append(f"        item[{field.name!r}] = list(value)")
        elif spec.format == "list" and field.values is None:
            count = f" <= {spec.max_items}" if spec.max_items else ""
            lines.append(f"    elif value.__class__ is list and 0 < len(value){count} and all("
                         f"x.__class__ is str and len(x) <= {spec.max_length} for x in value):")
            lines.append(f"        item[{field.name!r}] = list(value)")
        elif field.plain_text and field.values is None:
            lines.append(f"    elif value.__class__ is str and value{limit.format(v='value')}:")
            lines.append(f"        item[{field.name!r}] = value")
        elif field.plain_text:
            namespace[f"values_{index}"] = field.values
            lines.append(f"    elif value.__class__ is str and "
                         f"(mapped := values_{index}.get(value)) is not None"
                         f"{limit.format(v='mapped')}:")
            lines.append(f"        item[{field.name!r}] = mapped")
        lines.append(f"    elif general({index}, value, product, item, issues):")
        lines.append("        excluded = True")
    lines.append("    return excluded")
    exec("\n".join(lines), namespace)
    return namespace["render_fields"]  # type: ignore[no-any-return]


class ChannelRenderer:
    """Renders products for one configured channel and reports why one cannot go in."""

    def __init__(self, spec: ChannelSpec, channel: str, *,
                 context: dict[str, Any] | None = None,
                 localize: Callable[[Product], tuple[Product | None, list[Issue]]] | None = None,
                 ) -> None:
        """`context`: settings/market/feed for templates; `localize`: a market's view of
        a product (converted prices, localised texts), see feedsync.channels.markets."""
        self.spec = spec
        self.channel = channel
        self.fields = [_FieldRenderer(f, channel, context) for f in spec.fields]
        self.rules = spec.rules
        self._rules = [(rule, _rule_settles_quietly(rule)) for rule in spec.rules]
        self._unsettled = _compile_rule_tests(spec.rules)
        self.localize = localize
        self._render_fields = _compile_fields(self.fields, self._render_field)
        self.product_types = _ProductTypeCheck.for_spec(spec, channel, context or {})

    def render(self, product: Product) -> tuple[Item | None, list[Issue]]:
        item: Item = {}
        issues: list[Issue] = []
        excluded = False
        if self.localize is not None:
            local, issues = self.localize(product)
            if local is None:
                return None, issues
            product = local
        try:
            excluded = self._render_fields(product, item, issues)
        except TemplateError as exc:  # a field template failed or went over its budget
            issues.append(Issue(codes.TEMPLATE_FAILED, Severity.ERROR,
                                f"{self.spec.title}: a field template failed: {exc}",
                                row=product.row, product_id=product.id, channel=self.channel))
            return None, issues
        for index in self._unsettled(product, item):  # the rules quick tests do not settle
            rule = self.rules[index]
            issue = self._apply_rule(rule, product, item)
            if issue is not None:
                issues.append(issue)
                excluded = excluded or rule.exclude or (issue.is_error and not rule.report)
        if not excluded and self.product_types is not None:
            problems = self.product_types.check(product, item)
            issues += problems
            excluded = any(i.is_error for i in problems)
        return (None if excluded else item), issues

    def _render_field(self, index: int, raw: Any, product: Product, item: Item,
                      issues: list[Issue]) -> bool:
        """The general path for one field (see _compile_fields): missing values, value
        maps, formatting and limits. Adds the value to `item`; True when it excludes."""
        field = self.fields[index]
        spec = field.spec
        if raw is None or (raw.__class__ in _EMPTYABLE and not raw):
            if field.required:
                issues.append(self._issue(product, codes.MISSING_REQUIRED, Severity.ERROR,
                                          f"{spec.name} is required by {self.spec.title}",
                                          spec))
                return True
            if field.recommended:
                issues.append(self._issue(product, codes.MISSING_RECOMMENDED, Severity.INFO,
                                          f"{spec.name} is recommended by {self.spec.title}",
                                          spec))
            return False
        if field.values is not None:
            key = raw if isinstance(raw, str) else _text(raw)
            mapped = field.values.get(key)
            if mapped is None:
                issues.append(self._issue(
                    product, codes.UNSUPPORTED_VALUE, Severity.ERROR,
                    f"{self.spec.title} does not accept {field.name} {key!r}", spec, key))
                return True
            raw = mapped
        if field.checked:
            checked = self._check_field(field, raw, product, issues)
            if checked is _DROP:  # the check said why; an error only when the field is required
                return issues[-1].is_error
            if (field.passed is not None and checked is raw and raw.__class__ is str
                    and len(field.passed) < 4096
                    and not (field.max_length and len(raw) > field.max_length)):
                field.passed.add(raw)
            raw = checked
        value: Value = raw if field.plain_text and raw.__class__ is str else field.format(raw)
        problem = self._check_limits(spec, value) if field.limited else None
        if problem is not None:
            value, issue = problem
            issues.append(self._issue(product, issue[0], issue[1], issue[2], spec,
                                      _text(raw)[:200]))
            if issue[1] is Severity.ERROR:
                return True
            if value is _DROP:
                return False
        item[field.name] = value
        return False

    def _check_field(self, field: _FieldRenderer, raw: Any, product: Product,
                     issues: list[Issue]) -> Any:
        """The checks a spec adds beyond length: https, taxonomy, parts, dates, shipping
        currency. Returns the value to write, or _DROP (after adding the issue saying
        why; an error issue when the field is required, so the product is left out)."""
        spec = field.spec
        title = self.spec.title

        def drop(code: str, message: str, value: Any) -> Any:
            severity = Severity.ERROR if field.required else Severity.WARNING
            if code == codes.DATE_TOO_FAR:
                severity = Severity.ERROR
            issues.append(self._issue(product, code, severity, message, spec,
                                      _text(value)[:200]))
            return _DROP

        if spec.split and isinstance(raw, str):
            raw = [part.strip() for part in raw.split(spec.split) if part.strip()]
        if spec.during:
            window = product.get(spec.during)
            now = current_time()
            if isinstance(window, DateWindow) and not window.start <= now <= window.end:
                ended = window.end < now
                issues.append(self._issue(
                    product, codes.OUTSIDE_ITS_WINDOW, Severity.INFO,
                    f"{spec.name} is left out: its {spec.during} "
                    + (f"ended on {window.end.date().isoformat()}" if ended else
                       f"starts on {window.start.date().isoformat()}"), spec, _text(window)))
                return _DROP
        if spec.format == "shipping" and isinstance(raw, list) and product.price is not None:
            currency = product.price.currency
            kept = [r for r in raw if r.price.currency == currency]
            if len(kept) != len(raw):
                other = sorted({r.price.currency for r in raw} - {currency})
                issues.append(self._issue(
                    product, codes.SHIPPING_CURRENCY_MISMATCH, Severity.WARNING,
                    f"shipping priced in {', '.join(other)} while the price is in {currency}; "
                    f"{title} wants one currency, so those shipping rules are left out",
                    spec, ", ".join(other)))
            if not kept:
                return _DROP
            raw = kept
        if spec.https_only:
            values = raw if isinstance(raw, list) else [raw]
            secure = [v for v in values if _text(v).lower().startswith("https://")]
            if len(secure) != len(values):
                if not secure:
                    return drop(codes.INSECURE_URL,
                                f"{title} takes only https:// URLs for {spec.name}; "
                                f"{_text(values[0])[:80]} is http", values[0])
                issues.append(self._issue(
                    product, codes.INSECURE_URL, Severity.WARNING,
                    f"{title} takes only https:// URLs for {spec.name}; "
                    f"{len(values) - len(secure)} http URL(s) left out", spec,
                    next(_text(v) for v in values if v not in secure)[:200]))
            raw = secure if isinstance(raw, list) else raw
        if spec.taxonomy == "google":
            text = _text(raw)
            if google_taxonomy().id_for(text) is None:
                return drop(codes.UNKNOWN_CATEGORY,
                            f"{text[:80]!r} is not a Google product category (an id or a full "
                            f"path of the taxonomy); {title} would not use it", text)
        if spec.parts is not None and isinstance(raw, str):
            parts = [p.strip() for p in raw.split(spec.parts.separator)]
            limit = spec.parts.max_length
            if (spec.parts.max_items and len(parts) > spec.parts.max_items) or (
                    limit and any(len(p) > limit for p in parts)) or not all(parts):
                return drop(codes.VALUE_DROPPED,
                            f"{spec.name} {raw[:80]!r}: {title} takes at most "
                            f"{spec.parts.max_items} values separated by "
                            f"{spec.parts.separator!r}, each of at most {limit} characters",
                            raw)
        if spec.max_days_ahead and isinstance(raw, datetime):
            now = current_time()
            if raw > now + timedelta(days=spec.max_days_ahead):
                return drop(codes.DATE_TOO_FAR,
                            f"{spec.name} {format_iso_minutes(raw)} is more than "
                            f"{spec.max_days_ahead} days ahead; {title} rejects it", raw)
        return raw

    def _check_limits(self, spec: FieldSpec,
                      value: Value) -> tuple[Value, tuple[str, Severity, str]] | None:
        if isinstance(value, str):
            if spec.max_length and len(value) > spec.max_length:
                if spec.too_long == "truncate":
                    return truncate_words(value, spec.max_length), (
                        codes.TRUNCATED, Severity.WARNING,
                        f"{spec.name} is {len(value)} characters; {self.spec.title} allows "
                        f"{spec.max_length}, so it was cut at a word boundary")
                if spec.too_long == "drop" and not spec.required:
                    return _DROP, (codes.VALUE_DROPPED, Severity.WARNING,
                                   f"{spec.name} is {len(value)} characters; "
                                   f"{self.spec.title} allows {spec.max_length}, so "
                                   f"{spec.name} is left out of this channel")
                return value, (codes.TOO_LONG, Severity.ERROR,
                               f"{spec.name} is {len(value)} characters; {self.spec.title} "
                               f"allows at most {spec.max_length}")
            return None
        if not isinstance(value, list):
            return None
        if spec.max_items and len(value) > spec.max_items:
            return value[: spec.max_items], (
                codes.TOO_MANY_VALUES, Severity.WARNING,
                f"{len(value)} values for {spec.name}; {self.spec.title} takes "
                f"{spec.max_items}, the rest are left out")
        if spec.max_length:
            kept = [v for v in value if not isinstance(v, str) or len(v) <= spec.max_length]
            if len(kept) != len(value):
                return kept, (codes.TOO_LONG, Severity.WARNING,  # type: ignore[return-value]
                              f"a {spec.name} value is longer than {spec.max_length} "
                              "characters and is left out")
        return None

    def _apply_rule(self, rule: RuleSpec, product: Product, item: Item) -> Issue | None:
        for name, wanted in rule.when.items():
            actual = product.get(name)
            actual_text = None if actual is None else _text(actual)
            options = [wanted] if isinstance(wanted, str) else wanted
            if actual_text not in options:
                return None
        for name, unwanted in rule.unless.items():
            actual = product.get(name)
            options = [unwanted] if isinstance(unwanted, str) else unwanted
            if actual is not None and _text(actual) in options:
                return None
        for name, pattern in rule.when_matches.items():
            actual = product.get(name)
            if actual is None or re.search(pattern, _text(actual)) is None:
                return None
        if rule.report:
            return Issue(rule.code, Severity(rule.severity),
                         rule.message or f"{self.spec.title}: {rule.code}", row=product.row,
                         product_id=product.id,
                         field=next(iter(rule.when_matches or rule.when)),
                         value=_text(product.get(next(iter(rule.when_matches or rule.when)))),
                         channel=self.channel)
        if rule.exclude:
            # A rule may be conditioned by `when`, `when_matches` or both.
            names = [*rule.when, *(n for n in rule.when_matches if n not in rule.when)]
            condition = ", ".join(f"{k} is {_text(product.get(k))}" for k in names)
            return Issue(rule.code, Severity(rule.severity),
                         rule.message or f"{self.spec.title} does not list products whose "
                         f"{condition}", row=product.row, product_id=product.id,
                         field=names[0] if names else None, channel=self.channel)
        missing = [n for n in rule.require if not item.get(n)]
        if rule.require_any and not any(item.get(n) for n in rule.require_any):
            missing.append(" or ".join(rule.require_any))
        if not missing:
            return None
        condition = ", ".join(f"{k} is {v if isinstance(v, str) else ' or '.join(v)}"
                              for k, v in rule.when.items())
        message = rule.message or (
            f"{self.spec.title} requires {', '.join(missing)}"
            + (f" when {condition}" if condition else ""))
        return Issue(rule.code, Severity(rule.severity), message, row=product.row,
                     product_id=product.id, field=(rule.require or rule.require_any)[0],
                     channel=self.channel)

    def typed_item(self, product: Product, item: Item) -> TypedItem:
        """`item` (rendered from `product` by `render`) with its money, dates, measures
        and shipping rules as the typed values they were formatted from, for API
        destinations: they send the same values as the feed without parsing its text.

        A field whose value went through a value map keeps its rendered form."""
        if self.localize is not None:
            local, _ = self.localize(product)
            if local is not None:
                product = local
        typed: TypedItem = dict(item)
        for field in self.fields:
            if (field.name in item and field.spec.format in TYPED_FORMATS
                    and field.values is None):
                raw = field.get(product)
                if isinstance(raw, (Money, datetime, Measure, DateWindow)) or (
                        isinstance(raw, list) and raw and isinstance(raw[0], Shipping)):
                    typed[field.name] = raw
        return typed

    def _issue(self, product: Product, code: str, severity: Severity, message: str,
               spec: FieldSpec, value: str | None = None) -> Issue:
        return Issue(code, severity, message, row=product.row, product_id=product.id,
                     field=spec.source_field if spec.template is None else spec.name,
                     value=value, channel=self.channel)


class _ProductTypeCheck:
    """A spec's `product_types:`: each item's attributes, completed from its product
    type definition, must satisfy it (feedsync/channels/product_types.py)."""

    def __init__(self, spec: ChannelSpec, channel: str, context: dict[str, Any],
                 location: str) -> None:
        from feedsync.channels.product_types import load_definitions
        from feedsync.channels.shape import MISSING, compile_shape, render_constant

        types = spec.product_types
        assert types is not None
        self.types = types
        self.spec = spec
        self.channel = channel
        self.missing = MISSING
        self.definitions = load_definitions(location)
        shape = spec.formats[types.format].item_shape
        node = shape.get(types.at) if isinstance(shape, dict) else None
        if not isinstance(node, dict) or "$override" not in node:
            raise ConfigError(f"channel spec {spec.name}: product_types needs the "
                              f"{types.format} item_shape's `{types.at}` to carry "
                              "`$override: FIELD`")
        self.override = str(node["$override"])
        where = f"{spec.name}.product_types"
        self.attributes_shape, _ = compile_shape(
            {k: v for k, v in node.items() if k != "$override"}, context, where)
        self.value_keys = {k: render_constant(v, context, where) if "{" in v else v
                           for k, v in types.value_keys.items()}
        language = types.language or ""
        self.language = render_constant(language, context, where) if "{" in language \
            else language
        self.settings = dict(context.get("settings", {}))
        self.mapping: dict[str, Callable[[Product], str | None]] = {}
        for attribute, text in dict(context.get("attributes", {})).items():
            self.mapping[attribute] = self._compile(attribute, str(text))

    @classmethod
    def for_spec(cls, spec: ChannelSpec, channel: str,
                 context: dict[str, Any]) -> _ProductTypeCheck | None:
        if spec.product_types is None:
            return None
        location = dict(context.get("settings", {})).get(spec.product_types.setting)
        if not location:
            return None  # no definitions: the spec's own rules (shared by all types) apply
        return cls(spec, channel, context, str(location))

    def _compile(self, attribute: str, text: str) -> Callable[[Product], str | None]:
        if "{{" not in text and "{%" not in text:
            return lambda product: text
        try:
            template = _template_env.from_string(text)
            names = meta.find_undeclared_variables(_template_env.parse(text))
        except TemplateError as exc:
            raise ConfigError(f"channel {self.channel}: attributes.{attribute}: bad "
                              f"template: {exc}") from exc
        product_names = [n for n in names if n != "settings"]
        fixed = {"settings": self.settings}
        return MemoisedFieldTemplate(field_renderer(template, text, product_names, fixed),
                                     product_names, fixed)

    def check(self, product: Product, item: Item) -> list[Issue]:
        from feedsync.channels.product_types import complete_attributes

        type_name = str(item.get(self.types.type_field) or "")
        definition = self.definitions.get(type_name)
        if definition is None:
            return [Issue(codes.UNKNOWN_PRODUCT_TYPE, Severity.ERROR,
                          f"no product type definition for {type_name or '(none)'}; "
                          f"{self.spec.title} would reject the message (definitions for: "
                          f"{', '.join(sorted(self.definitions))})",
                          row=product.row, product_id=product.id,
                          field=self.types.type_field, value=type_name,
                          channel=self.channel)]
        shaped = self.attributes_shape(dict(item), 1, None)
        base = shaped if isinstance(shaped, dict) else {}

        def lookup(name: str) -> Any:
            mapped = self.mapping.get(name)
            if mapped is not None:
                return mapped(product)
            return product.extra.get(name)

        attributes = complete_attributes(definition, base, lookup, self.value_keys,
                                         self.types.language_key, self.language)
        problems = definition.problems(attributes)
        if problems:
            return [Issue(codes.PRODUCT_TYPE_INVALID, Severity.ERROR,
                          f"{self.spec.title} product type {type_name}: {message}"
                          + (f"; give it as a master column named {attribute} or under "
                             "the channel's attributes:" if message.endswith("required")
                             else ""),
                          row=product.row, product_id=product.id, field=attribute,
                          channel=self.channel)
                    for attribute, message in problems]
        item[self.override] = attributes  # type: ignore[assignment]
        return []

"""What every rule step shares: the Step class, the runner, and applying changes to a product.

A step never mutates the product it is given (other channels share it): it returns the same
object when nothing changes and a changed copy when something does, so "did this rule change
the product" is an identity test. Problems with one product are `StepError`s, which the runner
turns into warnings for that product and channel. The steps themselves live in this package's
family modules (filters, lookups, text, prices, labels, variants), one class each.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from jinja2 import TemplateError

from feedsync.checks import codes
from feedsync.checks.text import collapse_whitespace
from feedsync.products.numbers import (
    NumberFormatError,
    currency_decimals,
    parse_decimal,
    split_money,
)
from feedsync.products.product import (
    CANONICAL_FIELDS,
    ENUMS,
    Money,
    Product,
)
from feedsync.rules.model import StepParams
from feedsync.rules.taxonomy import Taxonomy
from feedsync.templating import template_environment
from feedsync.yamlpos import Location

if TYPE_CHECKING:
    from feedsync.channels.spec import ChannelSpec

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
            constant = [n.value for n in node.items if isinstance(n, nodes.Const)]
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
            return (lambda v: not inner(v)) if inner is not None else None
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
            return lambda v: compare(left(v), right(v))
        return None

    body = ast.body
    if len(body) != 1 or not isinstance(body[0], nodes.Output) or len(body[0].nodes) != 1:
        return None
    return build(body[0].nodes[0])


# -- writing fields -----------------------------------------------------------------------

def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == []


_SLOTS = tuple(f for f in Product.__slots__ if not f.startswith("__"))


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


class CompileContext(Protocol):
    """What a step's `build` may ask of the rule compiler (feedsync.rules.compile).

    Steps report problems through it and never raise: the compiler collects every problem of
    every rule and reports them at once, with `file:line` and key path.
    """

    spec: ChannelSpec | None
    currency: str | None
    now: datetime
    tz: tzinfo
    locale: str | None
    date_format: str | None

    @property
    def taxonomy(self) -> Taxonomy: ...

    def problem(self, loc: Location, message: str) -> None: ...

    def where(self, loc: Location) -> str: ...

    def read_field(self, name: str, loc: Location) -> bool: ...

    def write_field(self, name: str, loc: Location) -> bool: ...

    def expression(self, source: Any, loc: Location) -> Expression | None: ...

    def template(self, source: Any, loc: Location) -> Template | None: ...

    def path(self, value: str, loc: Location) -> Path: ...

    def table(self, table: Any, key_column: str | None, value_column: str | None,
              loc: Location) -> tuple[dict[str, str | None], str] | None: ...

    def parameters(self, step: type[Step], raw: Any, loc: Location) -> StepParams | None: ...

    def compile_list(self, raw: Any, loc: Location) -> list[Step]: ...

    def include_ruleset(self, name: Any, loc: Location) -> list[Step]: ...


@dataclass(frozen=True)
class DocRow:
    """One row of the README's table of steps: how it is written, what it does. Steps that
    share a row (strip_html, title_case...) name the same DocRow; the table shows it once."""

    usage: str
    summary: str


class Step:
    """One rule step: how it is written (`name`, `params`), how it compiles (`build`) and how
    it applies to a product (`apply`). A compiled instance counts what it did over the run.

    A class decorated with `@register_step` is a step users can write; the registry
    (feedsync.rules.registry) is the list of them.
    """

    name: ClassVar[str] = ""
    # The parameter model (feedsync.rules.model); None: `build` gets the raw YAML value.
    params: ClassVar[type[StepParams] | None] = None
    # The parameter a bare string, number or list fills (`- markup: 10`).
    shorthand: ClassVar[str | None] = None
    docs: ClassVar[tuple[DocRow, ...]] = ()
    # The code of the warning when the step cannot be applied to a product.
    issue_code: ClassVar[str] = codes.RULE_FAILED
    # True when the step must see the whole master first (`observe`, a second read).
    needs_whole_master: ClassVar[bool] = False
    traces_itself: ClassVar[bool] = False

    label: str = ""
    where: str = ""

    def __init__(self) -> None:
        self.changed = 0
        self.dropped = 0

    @classmethod
    def compile(cls, raw: Any, rules: CompileContext, loc: Location) -> list[Step]:
        """`- name: raw` at `loc` as compiled steps; [] after reporting a problem."""
        params = raw if cls.params is None else rules.parameters(cls, raw, loc)
        if params is None and cls.params is not None:
            return []
        step = cls.build(params, rules, loc)
        if step is None:
            return []
        if not step.label:
            step.label = cls.name
        step.where = rules.where(loc)
        return [step]

    @classmethod
    def build(cls, params: Any, rules: CompileContext, loc: Location) -> Step | None:
        """The compiled step from checked parameters; None after reporting a problem."""
        raise NotImplementedError(cls.name)

    def apply(self, product: Product, state: RunState) -> Product | None:
        raise NotImplementedError

    def children(self) -> list[Step]:
        return []

    def observe(self, product: Product) -> None:
        """Steps that need the whole master (variants) see every product first."""


# Every step users can write, by name, in the order the README lists them.
STEP_CLASSES: dict[str, type[Step]] = {}

StepClass = TypeVar("StepClass", bound=type[Step])


def register_step(cls: StepClass) -> StepClass:
    """Make `cls` a step users can write as `- NAME: ...` (see feedsync.rules.registry)."""
    if not cls.name or cls.name in STEP_CLASSES:
        raise ValueError(f"rule step {cls.__name__} needs a name of its own, not {cls.name!r}")
    STEP_CLASSES[cls.name] = cls
    return cls


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

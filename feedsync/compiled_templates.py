"""Simple field templates as plain Python, with the Jinja2 render kept as the authority.

A channel's field templates are small expressions over a product's values
(`{{ ml_model or mpn }}`, `{{ gtin if gtin and gtin|length == 12 else '' }}`,
`{{ 'yes' if not link or link.lower().startswith('https://') else '' }}`). Where their
inputs are unique per product, the memo of MemoisedFieldTemplate misses and each product
pays a full sandboxed render: 5 to 35 us, mostly the sandbox's per-call checks on a
method like `lower()`. `python_renderer` translates a template written in a small subset
of Jinja2 into one Python function that computes the same text in about a microsecond.

The subset is the part whose meaning Python shares exactly: constants, names, `and`,
`or`, `not`, `x if c else y`, comparisons, `is none`, the `length`/`lower`/`upper`/
`trim` filters, subscripts and slices of text and lists, keys of plain dicts, a few
read-only text methods, `settings.x` (and `market.`/`feed.`: fixed for the run, so read
once), `{% if %}` and a top-level `{% set %}`. A template using anything else is left to
Jinja2. At run time the compiled function hands a product back to Jinja2 (`_Fallback`, or
any error) whenever a value is not of the type the shortcut assumes (a method called on a
number, a missing key, an index out of range, an output over the size budget), so the
text, and any error raised, is the one Jinja2 gives. tests/test_compiled_templates.py
checks both against each other on every spec's templates and on random values.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from jinja2 import TemplateError, Undefined, nodes
from jinja2.environment import Environment

from feedsync.templating import MAX_TEMPLATE_TEXT, blank_none

Renderer = Callable[[dict[str, Any]], str]


class _Fallback(Exception):
    """This product's values are outside what the compiled shortcut handles."""


class _Unsupported(Exception):
    """The template uses something outside the compiled subset: Jinja2 renders it."""


# Read-only text methods whose result is the same whether the sandbox calls them or
# Python does (the sandbox adds size checks only to center/ljust/rjust/zfill/expandtabs,
# format and replace, and refuses format_map: none of those is here).
_TEXT_METHODS = frozenset({
    "lower", "upper", "strip", "lstrip", "rstrip", "startswith", "endswith", "split",
    "rsplit", "isalpha", "isdigit", "isalnum", "isnumeric", "isdecimal", "isspace",
    "islower", "isupper", "title", "capitalize", "casefold"})
# Filters taken as they are (jinja2.filters: plain functions of the value, no argument).
_FILTERS = frozenset({"length", "count", "lower", "upper", "trim"})
_COMPARISONS = {"eq": "==", "ne": "!=", "lt": "<", "lteq": "<=", "gt": ">", "gteq": ">=",
                "in": "in", "notin": "not in"}
# Values a `settings.x` may fold to: immutable, so reading them once is reading them.
_FOLDABLE = (str, int, float, Decimal, type(None))


def _fallback() -> Any:
    raise _Fallback


def _key(obj: Any, key: Any) -> Any:
    """`obj[key]` or `obj.key` where Jinja's sandbox gives the same: a plain dict holding
    the key (the compiler checked `key` is no dict attribute), a text or list index."""
    kind = obj.__class__
    if kind is dict and key in obj:
        return obj[key]
    if ((kind is list or kind is str or kind is tuple) and key.__class__ is int
            and -len(obj) <= key < len(obj)):
        return obj[key]
    raise _Fallback


def _text_call(obj: Any, method: str, *args: Any) -> Any:
    """A read-only text method, where `obj` is text (anything else: Jinja decides)."""
    if obj.__class__ is not str:
        raise _Fallback
    result = getattr(obj, method)(*args)
    if result.__class__ in (str, list) and len(result) > MAX_TEMPLATE_TEXT:
        raise _Fallback  # the sandbox's size budget says what is wrong
    return result


class _Compiler:
    def __init__(self, env: Environment, names: set[str], fixed: dict[str, Any]) -> None:
        self.env = env
        self.names = names  # the product values the function receives
        self.fixed = fixed  # settings / market / feed
        self.locals: set[str] = set()  # `{% set %}` names assigned so far
        self.namespace: dict[str, Any] = {
            "_key": _key, "_text_call": _text_call, "_fallback": _fallback}
        self.counter = itertools.count()
        if env.finalize is None:
            self.finalize = "str({})"
        elif env.finalize is blank_none:
            self.finalize = "('' if (_v := {}) is None else str(_v))"
        else:
            raise _Unsupported("finalize")
        self.lines: list[str] = []

    def constant(self, value: Any) -> str:
        name = f"_c{next(self.counter)}"
        self.namespace[name] = value
        return name

    def statements(self, body: list[nodes.Node], indent: str, top: bool) -> None:
        if not body:
            self.lines.append(f"{indent}pass")
        for node in body:
            if isinstance(node, nodes.Output):
                for child in node.nodes:
                    if isinstance(child, nodes.TemplateData):
                        self.lines.append(f"{indent}_out.append({child.data!r})")
                    else:
                        text = self.finalize.format(self.expr(child))
                        self.lines.append(f"{indent}_out.append({text})")
            elif isinstance(node, nodes.If):
                self.lines.append(f"{indent}if {self.expr(node.test)}:")
                self.statements(node.body, indent + "    ", False)
                for branch in node.elif_:
                    self.lines.append(f"{indent}elif {self.expr(branch.test)}:")
                    self.statements(branch.body, indent + "    ", False)
                if node.else_:
                    self.lines.append(f"{indent}else:")
                    self.statements(node.else_, indent + "    ", False)
            elif (isinstance(node, nodes.Assign) and top
                  and isinstance(node.target, nodes.Name)):
                name = node.target.name
                if name in self.names or name in self.fixed or not name.isidentifier():
                    raise _Unsupported("set shadowing a value")
                value = self.expr(node.node)
                self.locals.add(name)
                self.lines.append(f"{indent}v_{name} = {value}")
            else:
                raise _Unsupported(type(node).__name__)

    def folded(self, node: nodes.Node) -> Any:
        """The value of `settings.a.b` (fixed for the run), as Jinja's getattr reads it."""
        if isinstance(node, nodes.Name) and node.name in self.fixed:
            return self.fixed[node.name]
        if isinstance(node, nodes.Getattr):
            value = self.env.getattr(self.folded(node.node), node.attr)
            if isinstance(value, Undefined):
                raise _Unsupported("undefined setting")  # Jinja reports it, per product
            return value
        raise _Unsupported("not a setting")

    def expr(self, node: nodes.Node) -> str:
        if isinstance(node, nodes.Const):
            return self.constant(node.value)
        if isinstance(node, (nodes.Neg, nodes.Pos)) and isinstance(node.node, nodes.Const):
            value = node.node.value
            if value.__class__ not in (int, float):
                raise _Unsupported("sign")
            return self.constant(-value if isinstance(node, nodes.Neg) else value)
        if isinstance(node, nodes.Name):
            if node.name in self.locals:
                return f"v_{node.name}"
            if node.name in self.names:
                return f"_ctx[{node.name!r}]"
            raise _Unsupported(f"name {node.name}")
        if isinstance(node, (nodes.Tuple, nodes.List)):
            items = ", ".join(self.expr(item) for item in node.items)
            return f"({items},)" if isinstance(node, nodes.Tuple) else f"[{items}]"
        if isinstance(node, nodes.Not):
            return f"(not {self.expr(node.node)})"
        if isinstance(node, nodes.And):
            return f"({self.expr(node.left)} and {self.expr(node.right)})"
        if isinstance(node, nodes.Or):
            return f"({self.expr(node.left)} or {self.expr(node.right)})"
        if isinstance(node, nodes.CondExpr):
            if node.expr2 is None:
                raise _Unsupported("if without else")  # an undefined value
            return (f"({self.expr(node.expr1)} if {self.expr(node.test)} "
                    f"else {self.expr(node.expr2)})")
        if isinstance(node, nodes.Compare):
            parts = [self.expr(node.expr)]
            for operand in node.ops:
                parts.append(_COMPARISONS[operand.op])
                parts.append(self.expr(operand.expr))
            return f"({' '.join(parts)})"
        if isinstance(node, nodes.Test):
            if node.name != "none" or node.args or node.kwargs or node.dyn_args \
                    or node.dyn_kwargs:
                raise _Unsupported(f"test {node.name}")
            return f"({self.expr(node.node)} is None)"
        if isinstance(node, nodes.Filter):
            function = self.env.filters.get(node.name)
            if (node.name not in _FILTERS or node.node is None or node.args
                    or node.kwargs or node.dyn_args or node.dyn_kwargs or function is None
                    or hasattr(function, "jinja_pass_arg")):
                raise _Unsupported(f"filter {node.name}")
            return f"{self.constant(function)}({self.expr(node.node)})"
        if isinstance(node, nodes.Getattr):
            try:
                value = self.folded(node)
            except _Unsupported:
                if hasattr(dict, node.attr):
                    raise  # a dict method, not a key, for Jinja: left to it
                return f"_key({self.expr(node.node)}, {node.attr!r})"
            if value.__class__ not in _FOLDABLE:
                raise _Unsupported("setting that is not a plain value")
            return self.constant(value)
        if isinstance(node, nodes.Getitem):
            target = self.expr(node.node)
            if isinstance(node.arg, nodes.Slice):
                # Jinja slices with Python's own subscript (no sandbox call).
                bounds = [self.expr(b) if b is not None else "None"
                          for b in (node.arg.start, node.arg.stop, node.arg.step)]
                return f"{target}[{bounds[0]}:{bounds[1]}:{bounds[2]}]"
            if not isinstance(node.arg, (nodes.Const, nodes.Neg)):
                raise _Unsupported("computed subscript")
            return f"_key({target}, {self.expr(node.arg)})"
        if isinstance(node, nodes.Call):
            if (not isinstance(node.node, nodes.Getattr) or node.node.attr not in _TEXT_METHODS
                    or node.kwargs or node.dyn_args or node.dyn_kwargs):
                raise _Unsupported("call")
            args = "".join(f", {self.expr(arg)}" for arg in node.args)
            return f"_text_call({self.expr(node.node.node)}, {node.node.attr!r}{args})"
        raise _Unsupported(type(node).__name__)


def python_renderer(env: Environment, source: str, names: list[str],
                    fixed: dict[str, Any]) -> Callable[[dict[str, Any]], str] | None:
    """`source` compiled to Python: a function of {name: value} for `names` (and the
    `fixed` settings/market/feed, read now), or None when the template is outside the
    subset. The function raises when Jinja2 must decide (see `with_fallback`)."""
    try:
        tree = env.parse(source)
        compiler = _Compiler(env, set(names), fixed)
        compiler.statements(tree.body, "    ", True)
    except (_Unsupported, TemplateError, KeyError, TypeError, AttributeError):
        return None
    code = "\n".join(["def render(_ctx):", "    _out = []", *compiler.lines,
                      "    _text = ''.join(_out)",
                      "    if len(_text) > MAX_TEMPLATE_TEXT:",
                      "        _fallback()",
                      "    return _text"])
    namespace = compiler.namespace
    namespace["MAX_TEMPLATE_TEXT"] = MAX_TEMPLATE_TEXT
    exec(compile(code, f"<field template {source[:60]!r}>", "exec"), namespace)
    render: Renderer = namespace["render"]
    return render


def with_fallback(compiled: Renderer, jinja: Renderer) -> Renderer:
    """The compiled function, handing a product to Jinja2's render when it raises: what
    Jinja2 then returns or raises is the answer (templates are pure, so rendering again
    repeats nothing)."""

    def render(context: dict[str, Any]) -> str:
        try:
            return compiled(context)
        except Exception:
            return jinja(context)

    return render

"""The one Jinja2 environment every template in feedsync is compiled in.

Templates appear in five places (master column templates, rule expressions and templates,
channel field templates, item shapes' constants, JSON item templates). They must behave
the same everywhere, so they all come from `template_environment`:

- sandboxed (a template in a config or spec cannot reach Python internals);
- a missing value (None) prints as nothing, never as the text `None`;
- a name that does not exist at all is an error (StrictUndefined), so a typo in a
  template is reported instead of printing an empty string;
- the same filters: `regex_search`, `regex_replace`, and a `tojson` that writes plain JSON
  (Decimals as numbers);
- bounded work, so a template cannot take minutes or gigabytes for one product
  (`'a' * 10**9`, `[1] * 10**9`, `x | center(10**9)`, nested loops, a catastrophic regex):
  every string or list a template builds is at most `MAX_TEMPLATE_TEXT` long, each render
  runs at most `MAX_LOOP_ITERATIONS` loop iterations and writes at most
  `MAX_TEMPLATE_TEXT` characters, and regular expressions stop after
  `safe_regex.MATCH_SECONDS`. Going over raises `TemplateBudgetError`, a Jinja
  `TemplateRuntimeError`, which every caller already reports as an issue on the product.

`fast_renderer` renders a compiled template once per product without Jinja's per-call
context set-up.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, Template, nodes, pass_eval_context
from jinja2.exceptions import TemplateRuntimeError
from jinja2.filters import FILTERS
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from feedsync.checks.safe_regex import RegexTimeout, compile_pattern

# One product's template output, and any string or list a template builds on the way. Far
# above any channel's longest field (Google: 5,000 characters of description) and the
# master cells feedsync accepts, yet small enough that a few of them never strain memory.
MAX_TEMPLATE_TEXT = 4_000_000
# Loop iterations per render, counted over every {% for %} (nested loops multiply): the
# same order as Jinja's own limit on one range().
MAX_LOOP_ITERATIONS = 100_000
# Widths and counts given to padding filters and methods (center, indent, zfill, format).
MAX_WIDTH = 10_000
_BIG_WIDTH = re.compile(r"\d{5,}")  # a width or precision of 10,000 or more in a format


class TemplateBudgetError(TemplateRuntimeError):
    """A template went over its output, size, loop or regex budget for one product."""


class _RenderBudget(threading.local):
    """Loop iterations left in the render running on this thread."""

    def __init__(self) -> None:
        self.loops_left = MAX_LOOP_ITERATIONS


_budget = _RenderBudget()


def _start_render() -> None:
    _budget.loops_left = MAX_LOOP_ITERATIONS


def _counted_loop(iterable: Iterable[Any]) -> Iterator[Any]:
    """Every {% for %} iterates through this (see BoundedSandbox._generate)."""
    budget = _budget
    for value in iterable:
        budget.loops_left -= 1
        if budget.loops_left < 0:
            raise TemplateBudgetError(f"the template runs more than {MAX_LOOP_ITERATIONS:,} "
                                      "loop iterations for one product")
        yield value


def _bounded_value(value: Any) -> Any:
    if isinstance(value, (str, list, tuple)) and len(value) > MAX_TEMPLATE_TEXT:
        raise TemplateBudgetError(f"the template builds a value of {len(value):,} items; "
                                  f"the limit is {MAX_TEMPLATE_TEXT:,}")
    return value


def _check_width(width: Any, what: str) -> None:
    if isinstance(width, int) and abs(width) > MAX_WIDTH:
        raise TemplateBudgetError(f"{what} {width:,} is over the limit of {MAX_WIDTH:,}")


def _check_format(text: Any) -> None:
    if isinstance(text, str) and _BIG_WIDTH.search(text):
        raise TemplateBudgetError(f"a format width of 10,000 or more in {text[:40]!r}")


def _sized(value: Any) -> int:
    return len(value) if isinstance(value, (str, list, tuple)) else 0


class BoundedSandbox(SandboxedEnvironment):
    """Jinja's sandbox, plus limits on the work one render may do (module docstring)."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def call_binop(self, context: Context, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "*":
            for sequence, times in ((left, right), (right, left)):
                if isinstance(times, int) and _sized(sequence) * times > MAX_TEMPLATE_TEXT:
                    raise TemplateBudgetError(
                        f"repeating {_sized(sequence):,} items {times:,} times is over "
                        f"the limit of {MAX_TEMPLATE_TEXT:,}")
        elif operator_name == "**":
            if isinstance(right, int) and isinstance(left, int) and abs(left) > 1 and (
                    right * max(abs(left).bit_length(), 1) > 4096):
                raise TemplateBudgetError(f"{left} ** {right} is too large a number")
        elif operator_name == "+":
            if _sized(left) + _sized(right) > MAX_TEMPLATE_TEXT:
                raise TemplateBudgetError("the template builds a value over the limit of "
                                          f"{MAX_TEMPLATE_TEXT:,}")
        elif operator_name == "%":
            _check_format(left)
        return _bounded_value(super().call_binop(context, operator_name, left, right))

    def call(__self, __context: Context, __obj: Any, *args: Any,
             **kwargs: Any) -> Any:
        name = getattr(__obj, "__name__", "")
        # The sandbox hands out str.format wrapped (functools.update_wrapper): look through.
        owner = getattr(__obj, "__self__", None)
        if owner is None:
            owner = getattr(getattr(__obj, "__wrapped__", None), "__self__", None)
        if isinstance(owner, str):
            if name in ("center", "ljust", "rjust", "zfill", "expandtabs"):
                for width in (*args, *kwargs.values()):
                    _check_width(width, "a width of")
            elif name in ("format", "format_map"):
                _check_format(owner)
            elif name == "replace" and len(args) >= 2:
                base: str = owner
                old, new = str(args[0]), str(args[1])
                grown = len(base) + (base.count(old) if old else len(base) + 1) * len(new)
                if grown > MAX_TEMPLATE_TEXT:
                    raise TemplateBudgetError("the replacement builds a value over the limit "
                                              f"of {MAX_TEMPLATE_TEXT:,}")
        for value in (*args, *kwargs.values()):
            _bounded_value(value)
        return _bounded_value(SandboxedEnvironment.call(__self, __context, __obj, *args,
                                                        **kwargs))

    def _generate(self, source: nodes.Template, name: str | None, filename: str | None,
                  defer_init: bool = False) -> str:
        """Before code generation, route every loop through the iteration budget and every
        `~` concatenation through the size check (neither has a sandbox hook)."""
        for loop in source.find_all(nodes.For):
            loop.iter = _filtered(loop.iter, "_feedsync_counted_loop")  # type: ignore[arg-type]
        _bound_concatenations(source)
        return super()._generate(source, name, filename, defer_init)


def _bound_concatenations(node: nodes.Node) -> None:
    """Wrap every `~` (nodes.Concat) under `node` as `(...) | _feedsync_bounded`."""
    for field in node.fields:
        value = getattr(node, field, None)
        if isinstance(value, nodes.Node):
            _bound_concatenations(value)
            if isinstance(value, nodes.Concat):
                setattr(node, field, _filtered(value, "_feedsync_bounded"))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, nodes.Node):
                    _bound_concatenations(item)
                    if isinstance(item, nodes.Concat):
                        value[index] = _filtered(item, "_feedsync_bounded")


def _filtered(node: nodes.Expr, filter_name: str) -> nodes.Filter:
    return nodes.Filter(node, filter_name, [], [], None, None, lineno=node.lineno)


def _width_checked(filter_function: Callable[..., Any], what: str,
                   position: int) -> Callable[..., Any]:
    """A built-in filter whose width or count argument (at `position`) is bounded."""

    def checked(*args: Any, **kwargs: Any) -> Any:
        if len(args) > position:
            _check_width(args[position], what)
        for value in kwargs.values():
            _check_width(value, what)
        return _bounded_value(filter_function(*args, **kwargs))

    checked.__name__ = getattr(filter_function, "__name__", what)
    for attribute in ("jinja_pass_arg",):
        if hasattr(filter_function, attribute):
            setattr(checked, attribute, getattr(filter_function, attribute))
    return checked


def _bounded_format(value: Any, *args: Any, **kwargs: Any) -> str:
    _check_format(value)
    return str(_bounded_value(FILTERS["format"](value, *args, **kwargs)))


@pass_eval_context
def _bounded_replace(eval_ctx: Any, value: Any, old: Any, new: Any,
                     count: int | None = None) -> Any:
    text, old_text, new_text = str(value), str(old), str(new)
    occurrences = text.count(old_text) if old_text else len(text) + 1
    if count is not None:
        occurrences = min(occurrences, max(count, 0))
    if len(text) + occurrences * len(new_text) > MAX_TEMPLATE_TEXT:
        raise TemplateBudgetError("the replacement builds a value over the limit of "
                                  f"{MAX_TEMPLATE_TEXT:,}")
    return FILTERS["replace"](eval_ctx, value, old, new, count)


def blank_none(value: Any) -> Any:
    """Jinja `finalize`: a missing field prints as nothing, not as "None"."""
    return "" if value is None else value


def json_default(value: Any) -> Any:
    """Decimals become JSON numbers: integers when whole, else floats (15.5, 19.95)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def regex_search(value: Any, pattern: str) -> str:
    """`{{ attrs | regex_search('material=([^,]+)') }}`: the first group, or the match."""
    try:
        match = compile_pattern(pattern).search("" if value is None else str(value))
    except RegexTimeout as exc:
        raise TemplateBudgetError(str(exc)) from exc
    except re.error as exc:
        raise TemplateRuntimeError(f"bad regular expression {pattern!r}: {exc}") from exc
    if match is None:
        return ""
    return str(match.group(1) if match.groups() else match.group(0))


def regex_replace(value: Any, pattern: str, replacement: str = "") -> str:
    """`{{ title | regex_replace('\\s+', ' ') }}`: every match replaced."""
    try:
        result = compile_pattern(pattern).sub(replacement, "" if value is None else str(value))
    except RegexTimeout as exc:
        raise TemplateBudgetError(str(exc)) from exc
    except re.error as exc:
        raise TemplateRuntimeError(f"bad regular expression {pattern!r} or replacement "
                                   f"{replacement!r}: {exc}") from exc
    return str(_bounded_value(result))


def template_environment(search_path: Sequence[Path] = (), *,
                         blank_none: bool = True) -> SandboxedEnvironment:
    """The sandboxed environment with feedsync's filters and missing-value handling.

    `search_path` lists folders `{% include %}` and `get_template` look in, first first;
    environments are cached per search path, so compiled templates are shared.

    `blank_none=False` is for JSON item templates only: they write every value through
    `tojson` (None -> null, checked by parsing each result), and the per-output finalize
    call costs about 7% of the CPU of an every-channel build (measured on 30,000
    products, benchmarks/bench_channels.py layout).
    """
    return _environment(tuple(Path(p) for p in search_path), blank_none)


@lru_cache(maxsize=16)
def _environment(search_path: tuple[Path, ...], blank: bool) -> SandboxedEnvironment:
    loader = FileSystemLoader([str(p) for p in search_path]) if search_path else None
    env = BoundedSandbox(loader=loader, undefined=StrictUndefined, autoescape=False,
                         finalize=blank_none if blank else None, keep_trailing_newline=False)
    env.template_class = BoundedTemplate
    env.filters["_feedsync_counted_loop"] = _counted_loop
    env.filters["_feedsync_bounded"] = _bounded_value
    env.filters["center"] = _width_checked(FILTERS["center"], "a center width of", 1)
    env.filters["indent"] = _width_checked(FILTERS["indent"], "an indent width of", 1)
    env.filters["batch"] = _width_checked(FILTERS["batch"], "a batch size of", 1)
    env.filters["slice"] = _width_checked(FILTERS["slice"], "a slice count of", 1)
    env.filters["truncate"] = _width_checked(FILTERS["truncate"], "a truncate length of", 2)
    env.filters["wordwrap"] = _width_checked(FILTERS["wordwrap"], "a wrap width of", 2)
    env.filters["format"] = _bounded_format
    env.filters["replace"] = _bounded_replace
    env.filters["regex_search"] = regex_search
    env.filters["regex_replace"] = regex_replace
    env.policies["json.dumps_kwargs"] = {"ensure_ascii": False, "default": json_default}
    # Jinja's own tojson also escapes <, >, & and ' for HTML pages; feedsync's templates
    # write JSON documents (checked by parsing each result), where a plain dump is exact
    # and several times cheaper.
    env.filters["tojson"] = partial(json.dumps, ensure_ascii=False, default=json_default)
    return env


def _joined(pieces: Iterable[str]) -> str:
    """The render's pieces joined, stopping once the output would pass MAX_TEMPLATE_TEXT."""
    out: list[str] = []
    size = 0
    for piece in pieces:
        size += len(piece)
        if size > MAX_TEMPLATE_TEXT:
            raise TemplateBudgetError(f"the template writes more than {MAX_TEMPLATE_TEXT:,} "
                                      "characters for one product")
        out.append(piece)
    return "".join(out)


class BoundedTemplate(Template):
    """A template whose render starts a fresh loop budget and bounds its output."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        _start_render()
        context = self.new_context(dict(*args, **kwargs))
        try:
            return _joined(self.root_render_func(context))
        except Exception:
            return self.environment.handle_exception()


def fast_renderer(template: Template) -> Callable[[dict[str, Any]], str]:
    """The same text as `template.render(context)`, for templates run once per product.

    `Template.render` builds a fresh context from the environment's globals and the
    variables on every call, which costs more than a small field template itself; here the
    globals are copied once and the compiled root function is called directly (about three
    times faster). Errors propagate as the same Jinja2 exceptions.
    """
    base = dict(template.globals)
    root = template.root_render_func
    new_context = template.new_context

    def render(context: dict[str, Any]) -> str:
        variables = base.copy()
        variables.update(context)
        _start_render()
        return _joined(root(new_context(variables, shared=True)))

    return render

"""The one Jinja2 environment every template in feedsync is compiled in.

Templates appear in five places (master column templates, rule expressions and templates,
channel field templates, item shapes' constants, JSON item templates). They must behave
the same everywhere, so they all come from `template_environment`:

- sandboxed (a template in a config or spec cannot reach Python internals);
- a missing value (None) prints as nothing, never as the text `None`;
- a name that does not exist at all is an error (StrictUndefined), so a typo in a
  template is reported instead of printing an empty string;
- the same filters: `regex_search`, `regex_replace`, and a `tojson` that writes plain JSON
  (Decimals as numbers).

`fast_renderer` renders a compiled template once per product without Jinja's per-call
context set-up.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from decimal import Decimal
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, Template
from jinja2.sandbox import SandboxedEnvironment


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
    match = re.search(pattern, "" if value is None else str(value))
    if match is None:
        return ""
    return match.group(1) if match.groups() else match.group(0)


def regex_replace(value: Any, pattern: str, replacement: str = "") -> str:
    """`{{ title | regex_replace('\\s+', ' ') }}`: every match replaced."""
    return re.sub(pattern, replacement, "" if value is None else str(value))


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
    env = SandboxedEnvironment(loader=loader, undefined=StrictUndefined, autoescape=False,
                               finalize=blank_none if blank else None,
                               keep_trailing_newline=False)
    env.filters["regex_search"] = regex_search
    env.filters["regex_replace"] = regex_replace
    env.policies["json.dumps_kwargs"] = {"ensure_ascii": False, "default": json_default}
    # Jinja's own tojson also escapes <, >, & and ' for HTML pages; feedsync's templates
    # write JSON documents (checked by parsing each result), where a plain dump is exact
    # and several times cheaper.
    env.filters["tojson"] = partial(json.dumps, ensure_ascii=False, default=json_default)
    return env


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
        return "".join(root(new_context(variables, shared=True)))

    return render

"""JSON shapes: how a rendered item becomes a nested JSON object, declared as data.

A shape is plain YAML. Compiled once per output (against the run's settings and market),
it turns an `Item` into the channel's JSON with no per-channel Python:

- `$title`           the item's `title` field (a string, number, list...)
- `$.` / `$.price`   inside `$each`: the current element / a key of the current group
- `$@position`       the item's 1-based position in its document (Amazon's messageId)
- `$$text`           the literal string `$text`
- `"{{ settings.seller_id }}"`  a Jinja2 expression over settings/market/feed, rendered once
- `{$each: field, item: SHAPE}`  one SHAPE per value of a list field
- `{$override: field, ...}`      the item's `field` (an object the renderer built, e.g.
                                 Amazon attributes completed from a product type
                                 definition) when it has one, else the object's other keys
- anything else      a constant

Absent values disappear instead of being written as null: an object or a list whose
field references are all absent is itself absent, so `[{value: $brand, marketplace_id: X}]`
vanishes when there is no brand. The `$items` string marks, in a document envelope, where
the items go.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from jinja2 import TemplateError, UndefinedError

from feedsync.errors import ConfigError
from feedsync.templating import template_environment

ITEMS = "$items"
MISSING: Any = object()
Resolver = Callable[[dict[str, Any], int, Any], Any]

_env = template_environment()


def shape_references(node: Any) -> set[str]:
    """Every item field a shape refers to (for checking a spec against its fields)."""
    found: set[str] = set()
    for ref in _walk_refs(node):
        found.add(ref)
    return found


def _walk_refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if "$each" in node:
            yield str(node["$each"])
            yield from _walk_refs(node.get("item"))
            return
        if "$override" in node:
            yield str(node["$override"])
        for key, value in node.items():
            if key == "$override":
                continue
            yield from _walk_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk_refs(value)
    elif isinstance(node, str) and _is_field_ref(node):
        yield node[1:]


def _is_field_ref(text: str) -> bool:
    return (text.startswith("$") and not text.startswith(("$$", "$.", "$@"))
            and text != ITEMS and len(text) > 1)


def render_constant(text: str, context: dict[str, Any], where: str) -> str:
    """Render a `{{ ... }}` string of a shape once, against settings/market/feed."""
    try:
        return _env.from_string(text).render(context)
    except UndefinedError as exc:
        raise ConfigError(f"{where}: {exc.message} (set it under the channel's settings)"
                          ) from exc
    except TemplateError as exc:
        raise ConfigError(f"{where}: bad template {text!r}: {exc}") from exc


def compile_shape(node: Any, context: dict[str, Any], where: str) -> tuple[Resolver, bool]:
    """Shape -> (resolver(item, position, current) -> value or MISSING, has field refs)."""
    if isinstance(node, dict):
        if "$each" in node:
            return _compile_each(node, context, where)
        if "$override" in node:
            return _compile_override(node, context, where)
        children = [(str(key), *compile_shape(value, context, f"{where}.{key}"))
                    for key, value in node.items()]
        has_refs = any(refs for _, _, refs in children)

        def resolve_object(item: dict[str, Any], position: int, current: Any) -> Any:
            out: dict[str, Any] = {}
            found = False
            for key, resolver, refs in children:
                value = resolver(item, position, current)
                if value is MISSING:
                    continue
                out[key] = value
                found = found or refs
            if has_refs and not found:
                return MISSING
            return out

        return resolve_object, has_refs
    if isinstance(node, list):
        elements = [compile_shape(value, context, f"{where}[{i}]") for i, value in enumerate(node)]
        has_refs = any(refs for _, refs in elements)

        def resolve_list(item: dict[str, Any], position: int, current: Any) -> Any:
            out = []
            for resolver, _ in elements:
                value = resolver(item, position, current)
                if value is not MISSING:
                    out.append(value)
            if has_refs and not out:
                return MISSING
            return out

        return resolve_list, has_refs
    if isinstance(node, str):
        return _compile_string(node, context, where)
    constant = node
    return (lambda item, position, current: constant), False


def _compile_override(node: dict[str, Any], context: dict[str, Any],
                      where: str) -> tuple[Resolver, bool]:
    name = str(node["$override"])
    default, _ = compile_shape({k: v for k, v in node.items() if k != "$override"}, context,
                               where)

    def resolve_override(item: dict[str, Any], position: int, current: Any) -> Any:
        value = item.get(name)
        if isinstance(value, dict):
            return value
        return default(item, position, current)

    return resolve_override, True


def _compile_each(node: dict[str, Any], context: dict[str, Any],
                  where: str) -> tuple[Resolver, bool]:
    unknown = set(node) - {"$each", "item"}
    if unknown or "item" not in node:
        raise ConfigError(f"{where}: `$each` takes exactly `$each: FIELD` and `item: SHAPE`")
    name = str(node["$each"])
    element, _ = compile_shape(node["item"], context, f"{where}.item")

    def resolve_each(item: dict[str, Any], position: int, current: Any) -> Any:
        values = item.get(name)
        if values is None or values == "" or values == []:
            return MISSING
        if not isinstance(values, list):
            values = [values]
        out = [v for v in (element(item, position, value) for value in values)
               if v is not MISSING]
        return out or MISSING

    return resolve_each, True


def _compile_string(text: str, context: dict[str, Any], where: str) -> tuple[Resolver, bool]:
    if text == "$@position":
        return (lambda item, position, current: position), False
    if text == "$.":
        return (lambda item, position, current: MISSING if current is None else current), True
    if text.startswith("$."):
        key = text[2:]

        def resolve_key(item: dict[str, Any], position: int, current: Any) -> Any:
            if isinstance(current, dict) and current.get(key) not in (None, ""):
                return current[key]
            return MISSING

        return resolve_key, True
    if _is_field_ref(text):
        name = text[1:]

        def resolve_field(item: dict[str, Any], position: int, current: Any) -> Any:
            value = item.get(name)
            if value is None or value == "" or value == []:
                return MISSING
            return value

        return resolve_field, True
    if text.startswith("$$"):
        literal = text[1:]
        return (lambda item, position, current: literal), False
    constant = render_constant(text, context, where) if "{{" in text or "{%" in text else text
    return (lambda item, position, current: constant), False


def uses_position(node: Any) -> bool:
    """Whether a shape numbers its items (`$@position` anywhere in it): then an item's JSON
    depends on where in its document it is written."""
    if isinstance(node, dict):
        return any(uses_position(k) or uses_position(v) for k, v in node.items())
    if isinstance(node, list):
        return any(uses_position(v) for v in node)
    return isinstance(node, str) and node == "$@position"


def resolve_constants(node: Any, context: dict[str, Any], where: str) -> Any:
    """A document envelope with its `{{ }}` strings rendered; `$items` is kept."""
    if isinstance(node, dict):
        return {k: resolve_constants(v, context, f"{where}.{k}") for k, v in node.items()}
    if isinstance(node, list):
        return [resolve_constants(v, context, f"{where}[{i}]") for i, v in enumerate(node)]
    if isinstance(node, str) and ("{{" in node or "{%" in node):
        return render_constant(node, context, where)
    return node


def compile_item_shape(node: Any, context: dict[str, Any], where: str) -> tuple[Resolver, bool]:
    """`compile_shape`'s resolver as one generated Python function: the same values.

    A shape is resolved once per item of every JSON output, and compile_shape's resolver
    is a tree of small closures, one call per key (Amazon's body: some 60). Here the tree
    becomes straight-line code: a field reference is an `item.get` and a test inline, a
    constant a name, an object or a list built in place, `$override` a branch. `$each`
    and `$.` (which depend on the element being iterated) still call compile_shape's
    closures. tests/test_shape_and_writers.py checks both against each other on every
    spec's shapes."""
    generator = _ShapeCode(context)
    lines: list[str] = []
    result, has_refs = generator.emit(node, lines, "    ", where)
    value = result.expr if result.present is None else (
        f"{result.expr} if {result.present} else MISSING")
    code = "\n".join(["def resolve_shape(item, position, current):", "    get = item.get",
                      *lines, f"    return {value}"])
    namespace = generator.namespace
    exec(compile(code, f"<item shape {where}>", "exec"), namespace)
    resolver: Resolver = namespace["resolve_shape"]
    return resolver, has_refs


class _Emitted:
    """A shape node's value in generated code: `expr`, once `present` (a condition, or
    None when it is always present) holds; `refs`: it counts as a field reference."""

    __slots__ = ("expr", "present", "refs")

    def __init__(self, expr: str, present: str | None, refs: bool) -> None:
        self.expr = expr
        self.present = present
        self.refs = refs


class _ShapeCode:
    def __init__(self, context: dict[str, Any]) -> None:
        self.context = context
        self.namespace: dict[str, Any] = {"MISSING": MISSING}
        self.counter = 0

    def name(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def constant(self, value: Any) -> _Emitted:
        name = self.name("c")
        self.namespace[name] = value
        return _Emitted(name, None, False)

    def closure(self, node: Any, lines: list[str], indent: str, where: str) -> _Emitted:
        resolver, refs = compile_shape(node, self.context, where)
        name = self.name("r")
        self.namespace[name] = resolver
        var = self.name("v")
        lines.append(f"{indent}{var} = {name}(item, position, current)")
        return _Emitted(var, f"{var} is not MISSING", refs)

    def emit(self, node: Any, lines: list[str], indent: str,
             where: str) -> tuple[_Emitted, bool]:
        emitted = self._emit(node, lines, indent, where)
        return emitted, emitted.refs

    def _emit(self, node: Any, lines: list[str], indent: str, where: str) -> _Emitted:
        if isinstance(node, dict):
            if "$each" in node:
                return self.closure(node, lines, indent, where)
            if "$override" in node:
                return self._override(node, lines, indent, where)
            return self._object(node, lines, indent, where)
        if isinstance(node, list):
            return self._list(node, lines, indent, where)
        if isinstance(node, str):
            if node == "$@position":
                return _Emitted("position", None, False)
            if node.startswith("$."):
                return self.closure(node, lines, indent, where)
            if _is_field_ref(node):
                var = self.name("v")
                lines.append(f"{indent}{var} = get({node[1:]!r})")
                return _Emitted(var, f"not ({var} is None or {var} == '' or {var} == [])",
                                True)
            if node.startswith("$$"):
                return self.constant(node[1:])
            if "{{" in node or "{%" in node:
                return self.constant(render_constant(node, self.context, where))
            return self.constant(node)
        return self.constant(node)

    def _object(self, node: dict[Any, Any], lines: list[str], indent: str,
                where: str) -> _Emitted:
        out, found = self.name("o"), self.name("f")
        lines.append(f"{indent}{out} = {{}}")
        lines.append(f"{indent}{found} = False")
        has_refs = False
        for key, value in node.items():
            child = self._emit(value, lines, indent, f"{where}.{key}")
            has_refs = has_refs or child.refs
            store = [f"{out}[{str(key)!r}] = {child.expr}"]
            if child.refs:
                store.append(f"{found} = True")
            if child.present is None:
                lines += [f"{indent}{line}" for line in store]
            else:
                lines.append(f"{indent}if {child.present}:")
                lines += [f"{indent}    {line}" for line in store]
        if not has_refs:
            return _Emitted(out, None, False)
        result = self.name("v")
        lines.append(f"{indent}{result} = {out} if {found} else MISSING")
        return _Emitted(result, f"{result} is not MISSING", True)

    def _list(self, node: list[Any], lines: list[str], indent: str,
              where: str) -> _Emitted:
        out = self.name("l")
        lines.append(f"{indent}{out} = []")
        has_refs = False
        for index, value in enumerate(node):
            child = self._emit(value, lines, indent, f"{where}[{index}]")
            has_refs = has_refs or child.refs
            if child.present is None:
                lines.append(f"{indent}{out}.append({child.expr})")
            else:
                lines.append(f"{indent}if {child.present}:")
                lines.append(f"{indent}    {out}.append({child.expr})")
        if not has_refs:
            return _Emitted(out, None, False)
        result = self.name("v")
        lines.append(f"{indent}{result} = {out} if {out} else MISSING")
        return _Emitted(result, f"{result} is not MISSING", True)

    def _override(self, node: dict[Any, Any], lines: list[str], indent: str,
                  where: str) -> _Emitted:
        var = self.name("v")
        lines.append(f"{indent}{var} = get({str(node['$override'])!r})")
        lines.append(f"{indent}if not isinstance({var}, dict):")
        default = self._emit({k: v for k, v in node.items() if k != "$override"}, lines,
                             indent + "    ", where)
        lines.append(f"{indent}    {var} = {default.expr}")
        return _Emitted(var, f"{var} is not MISSING", True)


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


def resolve_constants(node: Any, context: dict[str, Any], where: str) -> Any:
    """A document envelope with its `{{ }}` strings rendered; `$items` is kept."""
    if isinstance(node, dict):
        return {k: resolve_constants(v, context, f"{where}.{k}") for k, v in node.items()}
    if isinstance(node, list):
        return [resolve_constants(v, context, f"{where}[{i}]") for i, v in enumerate(node)]
    if isinstance(node, str) and ("{{" in node or "{%" in node):
        return render_constant(node, context, where)
    return node

"""Config problems in words: `feedsync.yaml:12: key.path: message`, with a did-you-mean.

Three kinds of problem are worded here, so every YAML file feedsync reads (the config, a
channel spec) reports them the same way: pydantic's validation errors, YAML syntax errors
(PyYAML's raw messages are not for people), and keys written twice in one mapping.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Iterable
from typing import Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from feedsync.yamlpos import Location, PositionedYaml, dotted

_UNION_TAGS = ("str", "int", "float", "bool")


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """` (did you mean 'output'?)` when a choice is close to `word`, else an empty string."""
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def format_validation_errors(exc: ValidationError, doc: PositionedYaml,
                             prefix: Location = (),
                             model: type[BaseModel] | None = None) -> list[str]:
    """One `file:line: key.path: message` per problem. With `model` (the class validated at
    `prefix`), an unknown key gets the closest known key as a suggestion."""
    errors = exc.errors()
    problems = []
    for err in errors:
        raw_loc = tuple(err["loc"])
        loc = _yaml_location((*prefix, *raw_loc))
        if _other_union_branch_explains(err, errors):
            continue
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            known = _known_keys(model, raw_loc[:-1]) if model is not None else []
            hint = did_you_mean(str(raw_loc[-1]), known)
            message = ("unknown key" + hint if hint else
                       "unknown key" + (f"; known keys here: {', '.join(known)}" if known
                                        else " (check its spelling)"))
        elif err["type"] == "string_type" and isinstance(err.get("input"), dict):
            message = "expected a single value here, not a mapping"
            if loc and loc[-1] == "output":
                message += ("; `output:` is a file path (set `format:` beside it, or use "
                            "`outputs: [{path: ..., format: ...}]`)")
        problems.append(f"{doc.where(loc)}: {dotted(loc)}: {message}")
    return problems


def duplicate_key_problems(doc: PositionedYaml) -> list[str]:
    """A key written twice in one mapping, naming both lines (YAML would keep the last)."""
    return [f"{doc.file.name}:{d.second_line}: {dotted(d.path)}: written twice (first on line "
            f"{d.first_line}); YAML would silently keep only the last one"
            for d in doc.duplicates]


def yaml_syntax_message(exc: yaml.YAMLError, file_name: str) -> str:
    """PyYAML's error as one sentence with the file, line and column, and what to do."""
    mark = getattr(exc, "problem_mark", None)
    problem = str(getattr(exc, "problem", None) or exc)
    context = str(getattr(exc, "context", None) or "")
    context_mark = getattr(exc, "context_mark", None)
    where = f"{file_name}:{mark.line + 1}" if mark else file_name
    column = f", column {mark.column + 1}" if mark else ""
    if "'\\t'" in problem:
        return (f"{where}{column}: a tab character is used for indentation; YAML indents "
                "with spaces only (replace the tab with spaces)")
    if "quoted scalar" in context and context_mark is not None:
        return (f"{file_name}:{context_mark.line + 1}: a quote opened here is never closed "
                "(invalid YAML)")
    text = problem + (f" ({context} on line {context_mark.line + 1})"
                      if context and context_mark is not None else "")
    return f"{where}{column}: invalid YAML: {text}"


def _other_union_branch_explains(err: Any, errors: list[Any]) -> bool:
    """For `str | OutputConfig`, pydantic reports both branches; when the mapping branch has
    its own complaints (an unknown key), "Input should be a valid string" is noise."""
    loc = tuple(err["loc"])
    if err["type"] != "string_type" or not loc or loc[-1] not in _UNION_TAGS:
        return False
    parent = loc[:-1]
    return any(tuple(e["loc"])[:len(parent)] == parent and e is not err
               and e["type"] != "string_type" for e in errors)


def _known_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed in the mapping at `loc` (a pydantic location) below `model`."""
    current: Any = model
    for part in loc:
        current = _step(current, part)
        if current is None:
            return []
    current = _unwrap(current, None)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [name for name, info in current.model_fields.items()
                if not info.exclude]
    return []


def _unwrap(annotation: Any, tag: Any) -> Any:
    """The union member a location part names (pydantic tags them), or the one that holds
    keys (a model, a dict, a list)."""
    if get_origin(annotation) not in (Union, types.UnionType):
        return annotation
    members = [m for m in get_args(annotation) if m is not type(None)]
    for member in members:
        if getattr(member, "__name__", None) == tag:
            return member
    for member in members:
        if (isinstance(member, type) and issubclass(member, BaseModel)) or \
                get_origin(member) in (dict, list):
            return member
    return members[0] if members else None


def _step(annotation: Any, part: Any) -> Any:
    annotation = _unwrap(annotation, part)
    if getattr(annotation, "__name__", None) == part:
        return annotation  # the part was the union tag itself
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        info = annotation.model_fields.get(str(part))
        return info.annotation if info is not None else None
    origin = get_origin(annotation)
    if origin is dict:
        return get_args(annotation)[1]
    if origin is list:
        return get_args(annotation)[0]
    return None


def _yaml_location(loc: tuple[Any, ...]) -> Location:
    # pydantic inserts union member names (`str`, `OutputConfig`) into locations.
    return tuple(p for p in loc if not (isinstance(p, str) and (
        p in ("str", "int", "float") or p[:1].isupper() or "[" in p)))

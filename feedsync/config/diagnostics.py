"""Config problems in words: pydantic's errors as `feedsync.yaml:12: key.path: message`."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from feedsync.yamlpos import Location, PositionedYaml, dotted


def format_validation_errors(exc: ValidationError, doc: PositionedYaml,
                             prefix: Location = ()) -> list[str]:
    problems = []
    for err in exc.errors():
        loc = _yaml_location((*prefix, *err["loc"]))
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key (check its spelling)"
        problems.append(f"{doc.where(loc)}: {dotted(loc)}: {message}")
    return problems


def _yaml_location(loc: tuple[Any, ...]) -> Location:
    # pydantic inserts union member names (`str`, `OutputConfig`) into locations.
    return tuple(p for p in loc if not (isinstance(p, str) and (
        p in ("str", "int", "float") or p[:1].isupper() or "[" in p)))

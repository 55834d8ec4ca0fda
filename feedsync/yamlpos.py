"""YAML loading that remembers where every key came from, so errors can say `file:line`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

Location = tuple[str | int, ...]


class PositionedYaml:
    """Plain Python data from a YAML file plus the line number of every key path."""

    def __init__(self, data: Any, lines: dict[Location, int], file: Path) -> None:
        self.data = data
        self.lines = lines
        self.file = file

    def where(self, path: Location) -> str:
        """`feedsync.yaml:12` for the deepest known ancestor of `path`."""
        probe = tuple(path)
        while probe and probe not in self.lines:
            probe = probe[:-1]
        line = self.lines.get(probe, 1)
        return f"{self.file.name}:{line}"


def dotted(path: Location) -> str:
    parts: list[str] = []
    for part in path:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(("." if parts else "") + str(part))
    return "".join(parts) or "(top level)"


def load_positioned(text: str, file: Path) -> PositionedYaml:
    """Parse YAML; raise yaml.YAMLError (with its own mark) on syntax errors."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        lines: dict[Location, int] = {}
        data = _build(loader, node, (), lines) if node is not None else None
    finally:
        loader.dispose()
    return PositionedYaml(data, lines, file)


def _build(loader: yaml.SafeLoader, node: yaml.Node, path: Location,
           lines: dict[Location, int]) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            child = (*path, key)
            lines[child] = key_node.start_mark.line + 1
            result[key] = _build(loader, value_node, child, lines)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item, (*path, i), lines) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)

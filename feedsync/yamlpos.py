"""YAML loading that remembers where every key came from, so errors can say `file:line`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

Location = tuple[str | int, ...]


@dataclass(frozen=True)
class DuplicateKey:
    """A mapping key written twice: where, and on which two lines."""

    path: Location
    first_line: int
    second_line: int


class PositionedYaml:
    """Plain Python data from a YAML file plus the line number of every key path."""

    def __init__(self, data: Any, lines: dict[Location, int], file: Path,
                 duplicates: list[DuplicateKey] | None = None) -> None:
        self.data = data
        self.lines = lines
        self.file = file
        # A key written twice in one mapping: YAML keeps the last silently, feedsync refuses.
        self.duplicates = duplicates or []

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


# libyaml's parser, where PyYAML has it: the pure-Python scanner and parser spent ~0.1 G
# instructions of every run's start-up on the config and the channel specs. The nodes
# (and their marks) are the same, and the constructor is PyYAML's own. Where the two
# parsers could disagree, PyYAML's decides, as before: a text with a tab or a character
# PyYAML's reader refuses goes to it, and so does any text libyaml refuses (so a syntax
# error reads as it always did). A test compares both on many documents.
_FAST_LOADER: type[yaml.SafeLoader] | None = getattr(yaml, "CSafeLoader", None)
_NON_PRINTABLE = yaml.reader.Reader.NON_PRINTABLE


def load_positioned(text: str, file: Path) -> PositionedYaml:
    """Parse YAML; raise yaml.YAMLError (with its own mark) on syntax errors."""
    if _FAST_LOADER is not None and "\t" not in text and not _NON_PRINTABLE.search(text):
        try:
            return _load_with(_FAST_LOADER, text, file)
        except Exception:  # whatever libyaml refuses: PyYAML parses it again, in its words
            pass
    return _load_with(yaml.SafeLoader, text, file)


def _load_with(loader_class: type[yaml.SafeLoader], text: str, file: Path) -> PositionedYaml:
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        lines: dict[Location, int] = {}
        duplicates: list[DuplicateKey] = []
        data = _build(loader, node, (), lines, duplicates) if node is not None else None
    finally:
        loader.dispose()
    return PositionedYaml(data, lines, file, duplicates)


def _build(loader: yaml.SafeLoader, node: yaml.Node, path: Location,
           lines: dict[Location, int], duplicates: list[DuplicateKey]) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        # Keys merged in with `<<: *anchor` may be overridden; only keys written in this
        # mapping itself count as duplicates.
        written = {id(k) for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge"}
        loader.flatten_mapping(node)
        result: dict[Any, Any] = {}
        written_keys: set[Any] = set()
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            child = (*path, key)
            line = key_node.start_mark.line + 1
            if id(key_node) in written:
                if key in written_keys:
                    duplicates.append(DuplicateKey(child, lines[child], line))
                written_keys.add(key)
            lines[child] = line
            result[key] = _build(loader, value_node, child, lines, duplicates)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item, (*path, i), lines, duplicates)
                for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)

"""Read the items of a built feed back, for destinations that take items rather than a file.

The API destinations (Google Merchant API, Meta items_batch) send exactly what the build
wrote and the guards checked: the built feed is streamed back (constant memory) into the
same `Item` shape the writers received. XML is preferred because it keeps repeated and
nested values (shipping groups) apart; delimited feeds come back as strings, split on the
format's list separator for list fields.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from lxml import etree

from feedsync.channels.render import Group, Item
from feedsync.channels.spec import ChannelSpec, FormatSpec


def _open(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def read_items(path: Path, spec: ChannelSpec, fmt: FormatSpec) -> Iterator[Item]:
    if fmt.writer == "xml":
        yield from _read_xml(path, fmt)
    else:
        yield from _read_delimited(path, spec, fmt)


def _read_xml(path: Path, fmt: FormatSpec) -> Iterator[Item]:
    with _open(path) as fh:
        events = etree.iterparse(fh, events=("end",), tag=fmt.item_element,
                                 resolve_entities=False, no_network=True, load_dtd=False,
                                 huge_tree=False)
        for _, element in events:
            item: Item = {}
            for child in element:
                name = _local(child.tag)
                value: str | Group
                if len(child):
                    value = {_local(c.tag): (c.text or "") for c in child}
                else:
                    value = child.text or ""
                if name in item:
                    existing = item[name]
                    if isinstance(existing, list):
                        existing.append(value)  # type: ignore[arg-type]
                    else:
                        item[name] = [existing, value]  # type: ignore[list-item]
                elif isinstance(value, dict):
                    item[name] = [value]
                else:
                    item[name] = value
            # Free what was read: the element and the emptied items before it.
            element.clear()
            parent = element.getparent()
            while element.getprevious() is not None and parent is not None:
                del parent[0]
            yield item


def _read_delimited(path: Path, spec: ChannelSpec, fmt: FormatSpec) -> Iterator[Item]:
    by_header = {(f.header or f.name): f for f in spec.fields}
    with _open(path) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        reader = csv.reader(text, delimiter=fmt.delimiter,
                            quoting=csv.QUOTE_NONE if fmt.delimiter == "\t" else csv.QUOTE_MINIMAL)
        header = next(reader, None)
        if header is None:
            return
        fields = [by_header.get(h) for h in header]
        for row in reader:
            item: Item = {}
            for name, field, cell in zip(header, fields, row, strict=False):
                if not cell:
                    continue
                key = field.name if field else name
                if field is not None and field.format == "list":
                    item[key] = cell.split(fmt.list_separator)
                else:
                    item[key] = cell
            yield item

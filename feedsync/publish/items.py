"""The item spool: what API destinations send, written by the same build the guards checked.

A push builds every feed into a staging area; for a feed with API destinations (Merchant
API, Meta batch) the build also writes its items, as typed values (Money, Decimal, datetime,
Measure, shipping rules: see ChannelRenderer.typed_item), to a spool file of one JSON line
per item. The destinations then stream the spool back (constant memory), so they send
exactly the items the feed holds, with the values the feed was formatted from, and never
parse feed text ("59.90 EUR", "1.2 kg") back into numbers.

Values are tagged, so they come back with their types: `{"$money": ["59.90", "EUR"]}`,
`{"$datetime": "2026-03-01T00:00:00+01:00"}`, `{"$measure": ["1.2", "kg"]}`,
`{"$window": [start, end]}`, `{"$shipping": {...}}`, `{"$decimal": "3"}`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import fields
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

from feedsync.channels.render import TypedItem
from feedsync.products.product import DateWindow, Measure, Money, Shipping
from feedsync.writers.atomic import AtomicFile

SPOOL_SUFFIX = ".items.jsonl"


def encode_value(value: Any) -> Any:
    """A typed value as tagged JSON data (see the module docstring)."""
    if isinstance(value, str):
        return value
    if isinstance(value, Money):
        return {"$money": [str(value.amount), value.currency]}
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, Measure):
        return {"$measure": [str(value.value), value.unit]}
    if isinstance(value, DateWindow):
        return {"$window": [value.start.isoformat(), value.end.isoformat()]}
    if isinstance(value, Shipping):
        return {"$shipping": {f.name: encode_value(getattr(value, f.name))
                              for f in fields(value) if getattr(value, f.name) is not None}}
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, list):
        return [encode_value(v) for v in value]
    if isinstance(value, dict):
        return {k: encode_value(v) for k, v in value.items()}
    raise TypeError(f"cannot spool {type(value).__name__}")


def decode_value(value: Any) -> Any:
    """The typed value `encode_value` tagged."""
    if isinstance(value, list):
        return [decode_value(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        tag, data = next(iter(value.items()))
        if tag == "$money":
            return Money(Decimal(data[0]), data[1])
        if tag == "$datetime":
            return datetime.fromisoformat(data)
        if tag == "$measure":
            return Measure(Decimal(data[0]), data[1])
        if tag == "$window":
            return DateWindow(datetime.fromisoformat(data[0]), datetime.fromisoformat(data[1]))
        if tag == "$decimal":
            return Decimal(data)
        if tag == "$shipping":
            return Shipping(**{k: decode_value(v) for k, v in data.items()})
    return {k: decode_value(v) for k, v in value.items()}


class ItemSpool:
    """Writes one feed's typed items to `path`, atomically (temporary name, then rename)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self.position = 0  # bytes written so far
        self.last_position = 0  # where the last item written starts
        self._file = AtomicFile(path)

    def write(self, item: TypedItem) -> None:
        """Append one item."""
        line = json.dumps({k: encode_value(v) for k, v in item.items()},
                          ensure_ascii=False).encode("utf-8") + b"\n"
        self._file.stream.write(line)
        self.count += 1
        self.last_position = self.position
        self.position += len(line)

    def commit(self) -> None:
        """Publish the spool under its name."""
        self._file.close()
        self._file.commit()

    def abort(self) -> None:
        """Remove the temporary file; nothing is published."""
        self._file.abort()


def read_spool_at(path: Path, positions: Iterable[int]) -> Iterator[TypedItem]:
    """Stream the items starting at `positions` (ascending), for a delta publish."""
    with path.open("rb") as fh:
        for pos in positions:
            yield read_item_at(fh, pos)


def read_item_at(fh: BinaryIO, pos: int) -> TypedItem:
    """The item whose line starts at `pos` of an open spool."""
    fh.seek(pos)
    data = json.loads(fh.readline())
    return {k: decode_value(v) for k, v in data.items()}


def read_spool(path: Path) -> Iterator[TypedItem]:
    """Stream the items of a spool written by `ItemSpool`, with their types."""
    with path.open("rb") as fh:
        for line in fh:
            if line.strip():
                data = json.loads(line)
                yield {k: decode_value(v) for k, v in data.items()}

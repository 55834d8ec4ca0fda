"""Changes-only feed files, from the ledger's diff of a build: only what changed since the
last build, for channels that take delta or supplemental files.

- Amazon `JSON_LISTINGS_FEED` (a format whose `item_shape` has `operationType`): a listings
  feed document of UPDATE messages for new items, PATCH messages (`replace` of each
  attribute built from a changed field) for changed ones and DELETE messages for removed
  ones; still a valid listings-feed-schema v2 document. With no changes there is no file
  (the schema wants one message at least), so an old delta is never sent twice.
- Any other format (Meta's supplemental feeds, for one): the usual file with only the new
  and changed items. Such files cannot delete; the build report says how many left.

The build stages each feed's full items in an item file (their place in it is recorded in
the ledger's staging table), so the changed ones are read back here by position, in feed
order, in constant memory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from feedsync.channels.shape import (
    ITEMS,
    MISSING,
    compile_shape,
    resolve_constants,
    shape_references,
)
from feedsync.config import Config
from feedsync.pipeline import PlannedChannel
from feedsync.publish.items import read_item_at, read_spool_at
from feedsync.state.ledger import FILE_DESTINATION, Ledger, item_json
from feedsync.templating import json_default
from feedsync.writers import open_writer
from feedsync.writers.atomic import AtomicFile


def changes_path(config: Config, feed: PlannedChannel) -> Path | None:
    """Where a feed's changes-only file goes (`changes_only:`, with the market's
    placeholders), or None when the channel has none."""
    if not feed.config.changes_only:
        return None
    path = feed.config.changes_only
    if feed.variant is not None:
        path = feed.variant.output_path(path)
    return config.resolve(path)


def write_changes(config: Config, feed: PlannedChannel, ledger: Ledger, items: Path,
                  path: Path, context: dict[str, Any] | None) -> tuple[int, int]:
    """Write `path`, the changes of `feed` against what its files held (the ledger's
    `file` destination); `items` is the build's item file. Returns (items written or
    patched, deletes written)."""
    fmt_name = feed.outputs[0].format if feed.outputs else next(iter(feed.spec.formats))
    fmt = feed.spec.formats[fmt_name]
    if isinstance(fmt.item_shape, dict) and "operationType" in fmt.item_shape:
        return _amazon(feed, fmt, ledger, items, path, context)
    writer = open_writer(path, feed.spec, fmt, feed.config.feed, context=context,
                         template_dirs=[config.base_dir / "templates"])
    try:
        for item in read_spool_at(items, (pos for pos, _ in
                                          ledger.changes_for_file(feed.name))):
            writer.write(item)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    return writer.count, 0


def _amazon(feed: PlannedChannel, fmt: Any, ledger: Ledger, items: Path, path: Path,
            context: dict[str, Any] | None) -> tuple[int, int]:
    where = f"channel spec {feed.spec.name}"
    context = context or {"settings": {}, "market": {}, "feed": feed.config.feed.model_dump()}
    shape, _ = compile_shape(fmt.item_shape, context, where)
    attribute_fields = {name: shape_references(node) for name, node in
                        (fmt.item_shape.get("attributes") or {}).items()}
    document = resolve_constants(fmt.document or {"messages": ITEMS}, context, where)
    before, _, after = json.dumps(document, ensure_ascii=False).partition(json.dumps(ITEMS))
    out = AtomicFile(path)
    count = written = 0

    def emit(message: dict[str, Any]) -> None:
        nonlocal count
        out.stream.write((",\n" if count else "[\n").encode() + json.dumps(
            message, ensure_ascii=False, default=json_default).encode("utf-8"))
        count += 1

    try:
        out.stream.write(before.encode())
        with items.open("rb") as spool:  # streamed: a first build makes every item new
            for pos, old in ledger.changes_for_file(feed.name):
                item = read_item_at(spool, pos)
                message = shape(item, count + 1, None)
                if message is MISSING:
                    continue
                if old is not None:
                    message = _patch(message, old, _comparable(item), attribute_fields)
                emit(message)
                written += 1
        for sku in ledger.removed(feed.name, FILE_DESTINATION):
            emit({"messageId": count + 1, "sku": sku, "operationType": "DELETE"})
        if not count:  # a listings feed needs one message at least: no file, no changes
            out.abort()
            path.unlink(missing_ok=True)
            return 0, 0
        out.stream.write(b"\n]" + after.encode() + b"\n")
        out.commit()
    except BaseException:
        out.abort()
        raise
    return written, count - written


def _patch(message: dict[str, Any], old: dict[str, Any], new: dict[str, Any],
           attribute_fields: dict[str, set[str]]) -> dict[str, Any]:
    """A PATCH replacing the attributes the changed fields feed; the full UPDATE when a
    changed field feeds something else (the productType, say)."""
    fields = {k for k in old.keys() | new.keys() if k != "id" and old.get(k) != new.get(k)}
    names = [n for n, refs in attribute_fields.items()
             if refs & fields and n in message.get("attributes", {})]
    if not names or fields - set().union(*(attribute_fields[n] for n in names)):
        return message
    return {"messageId": message["messageId"], "sku": message["sku"],
            "operationType": "PATCH", "productType": message["productType"],
            "patches": [{"op": "replace", "path": f"/attributes/{n}",
                         "value": message["attributes"][n]} for n in names]}


def _comparable(item: dict[str, Any]) -> dict[str, Any]:
    """An item as the ledger keeps it (long values as digests), to compare with one."""
    return dict(json.loads(item_json(item)))
